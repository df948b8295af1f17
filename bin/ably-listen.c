/* ably-listen: subscribe to Ably channels (one per strategy) and write one
 * event record per message on stdout. It resumes after a dropped socket,
 * reattaches with the last channelSerial, fills every gap in continuity from
 * the channel history over REST and says so with an alert record when it
 * cannot; state survives restarts (ably-protocol.md section 6). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libwebsockets.h>

#include "ablm.h"
#include "acct.h"
#include "atom.h"
#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"
#include "yml.h"

#define SYNOPSIS "[-1hTv] [-f accounts.yaml [-m paper|live|all]] [-H host[:port]] " \
	"[-r seconds] [channel ...]"

#define AGENT		"rebal-ably-listen/0.1"
#define PROTO_V		"6"
#define REQ_TIMEOUT	10000.0		/* realtimeRequestTimeout, ms */
#define RETRY_BASE	15000.0		/* disconnectedRetryTimeout (RTB1) */
#define SUSPENDED_RETRY	30000.0		/* suspendedRetryTimeout */
#define CHANNEL_RETRY	15000.0		/* channelRetryTimeout */
#define FAILED_RETRY	300000.0	/* channel ERROR, connection ERROR */
#define STATE_TTL	120000.0	/* connectionStateTtl default */
#define NO_IDLE_PING	30000.0		/* own ping when maxIdleInterval is 0 */
#define MARGIN		300000.0	/* backfill margin before the gap, ms */
#define ALIVE_SAVE	30000.0		/* persist the liveness mark this often */
#define HIST_TRIES	3
#define HIST_PAGES	200
#define SEEN_MAX	1000
#define TAIL_MAX	32		/* events kept to write again */
#define RX_MAX		(16 << 20)	/* largest message or history body */
#define MAX_IDLE_CAP	120000.0	/* longest maxIdleInterval honoured */

enum cst { C_INIT, C_CONNECTING, C_CONNECTED, C_DISCONNECTED, C_SUSPENDED,
	C_CLOSING };
static const char *const cst_name[] = { "initialized", "connecting",
	"connected", "disconnected", "suspended", "closing" };
enum chst { CH_INIT, CH_ATTACHING, CH_ATTACHED, CH_SUSPENDED, CH_FAILED };

struct chan {
	char *name, *path;		/* channel; its state file */
	enum chst st;
	char *serial;			/* last channelSerial seen */
	char *attach_serial;		/* of the last non-resumed ATTACHED */
	char *last_id;
	double last_ts;			/* newest message timestamp, wall ms */
	double alive, saved_alive;	/* last sign of continuity, wall ms */
	double since;			/* first attach ever, wall ms */
	int delivering;			/* attached on the live transport */
	int newconn;			/* next ATTACHED is on a new connection */
	struct ablm_seen seen;
	jv tail;			/* the last TAIL_MAX events written */
	int replay;			/* write the tail again at start */
	double attach_dl, retry_at;	/* monotonic ms, 0 when off */
	int attempts;
	int gap, gap_tries;		/* a backfill is due */
	double gap_from, gap_to, gap_next;
	char *gap_serial;
};

static struct {
	int once, tls, verbose;
	double retention;		/* ms */
	char *host, *hosthdr, *base;	/* base: scheme://host[:port] */
	int port;
} opt = { .retention = 120000.0 };

static char *key, *key_q;		/* the API key, URL-encoded */
static struct chan *chans;
static int nchans;
static char *connpath;			/* connection key file */
static double conn_saved;

static struct lws_context *ctx;
static struct lws *wsi;			/* the live transport or NULL */
static uintptr_t gen, cur_gen;		/* transport generation */
static struct lws *in_cb;		/* wsi whose callback is running */
static enum cst cstate = C_INIT;
static char *conn_id, *conn_key, *recover_key;
static double max_idle, state_ttl = STATE_TTL;
static double t_connect, t_idle, t_ping, t_retry, t_close, lost_at;
static double last_attempt;
static int fails, closing_started, finished, keep_key;
static char close_why[128];

static struct { char *p; size_t n, cap; } rx;
static struct { char **v; size_t n, cap; } tx;

static volatile sig_atomic_t got_term, got_hup;

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)(ts.tv_nsec / 1000000);
}

static const char *
fmt_ms(double ms, char *buf)
{
	return tm_fmt(ms / 1e3, buf);
}

static char *
urlenc(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = xmalloc(3 * strlen(s) + 1), *p = o;
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return o;
}

static void
setstr(char **dst, const char *s)
{
	char *n = s ? xstrdup(s) : NULL;

	free(*dst);
	*dst = n;
}

static struct chan *
chan_find(const char *name)
{
	int i;

	for (i = 0; name && i < nchans; i++)
		if (strcmp(chans[i].name, name) == 0)
			return &chans[i];
	return NULL;
}

/* ---- persistent state ------------------------------------------------ */

static jv
str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

static jv
num_or_null(double v)
{
	return v > 0 ? jv_number(v) : jv_null();
}

/* Write V (consumed) to PATH atomically, one line. */
static void
write_json(const char *path, jv v)
{
	jv s = jv_dump_string(v, 0);

	s = jv_string_append_str(s, "\n");
	if (atom_write(path, jv_string_value(s),
	    (size_t)jv_string_length_bytes(jv_copy(s))) == -1)
		die(EX_IOERR, "%s:", path);
	jv_free(s);
}

static jv
read_json(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;
	jv v;

	if (f == NULL) {
		if (errno == ENOENT)
			return jv_null();
		die(EX_IOERR, "%s:", path);
	}
	do {
		if (n + 4096 > cap)
			buf = xrealloc(buf, cap = 2 * cap + 4096);
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		die(EX_IOERR, "%s:", path);
	fclose(f);
	v = jvx_parse(buf ? buf : "", (int)n);
	free(buf);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		die(EX_CONFIG, "%s: corrupt state file; move it away to "
		    "start this channel afresh (no backfill)", path);
	}
	return v;
}

static void
chan_save(struct chan *c)
{
	jv s = jv_object();

	s = jv_object_set(s, jv_string("channel"), jv_string(c->name));
	s = jv_object_set(s, jv_string("channel_serial"),
	    str_or_null(c->serial));
	s = jv_object_set(s, jv_string("attach_serial"),
	    str_or_null(c->attach_serial));
	s = jv_object_set(s, jv_string("last_id"), str_or_null(c->last_id));
	s = jv_object_set(s, jv_string("last_ts"), num_or_null(c->last_ts));
	s = jv_object_set(s, jv_string("alive_at"), num_or_null(c->alive));
	s = jv_object_set(s, jv_string("since"), num_or_null(c->since));
	s = jv_object_set(s, jv_string("ids"), ablm_seen_jv(&c->seen));
	s = jv_object_set(s, jv_string("tail"), jv_copy(c->tail));
	s = jv_object_set(s, jv_string("replay"), jv_bool(c->replay));
	write_json(c->path, s);
	c->saved_alive = c->alive;
}

static void
chan_load(struct chan *c)
{
	jv s = read_json(c->path), v;
	const char *sv;

	ablm_seen_init(&c->seen, SEEN_MAX);
	c->tail = jv_array();
	if (jv_get_kind(s) == JV_KIND_NULL)
		return;
	sv = jvx_str(s, "channel");
	if (sv == NULL || strcmp(sv, c->name) != 0)
		die(EX_CONFIG, "%s: state of another channel", c->path);
	setstr(&c->serial, jvx_str(s, "channel_serial"));
	setstr(&c->attach_serial, jvx_str(s, "attach_serial"));
	setstr(&c->last_id, jvx_str(s, "last_id"));
	jvx_num(s, "last_ts", &c->last_ts);
	jvx_num(s, "alive_at", &c->alive);
	jvx_num(s, "since", &c->since);
	c->saved_alive = c->alive;
	ablm_seen_load(&c->seen, jvx_get(s, "ids"));
	if (jv_get_kind(v = jvx_get(s, "tail")) == JV_KIND_ARRAY) {
		jv_free(c->tail);
		c->tail = v;
	} else
		jv_free(v);
	c->replay = jvx_bool(s, "replay", 0);
	jv_free(s);
}

static void
conn_save(void)
{
	jv s = jv_object();

	if (conn_key == NULL)
		return;
	s = jv_object_set(s, jv_string("connection_id"), jv_string(conn_id));
	s = jv_object_set(s, jv_string("connection_key"),
	    jv_string(conn_key));
	s = jv_object_set(s, jv_string("at"), jv_number(wall_ms()));
	s = jv_object_set(s, jv_string("ttl"), jv_number(state_ttl));
	write_json(connpath, s);
	conn_saved = mono_ms();
}

static void
conn_load(void)
{
	jv s = read_json(connpath);
	double at = 0, ttl = STATE_TTL;
	const char *k = jvx_str(s, "connection_key");

	jvx_num(s, "at", &at);
	jvx_num(s, "ttl", &ttl);
	if (k != NULL && wall_ms() - at < ttl) {
		recover_key = xstrdup(k);
		setstr(&conn_id, jvx_str(s, "connection_id"));
	}
	jv_free(s);
}

/* ---- output ---------------------------------------------------------- */

/* The reader of standard output went away (rebal-spool add died): it may
 * have read the last events without storing them, and this process has
 * them marked as delivered. Each channel's state records that its tail
 * (the last TAIL_MAX events) is to be written again at the next start,
 * where the consumer drops what it had; then exit 74. */
_Noreturn static void
reader_lost(const char *why)
{
	int i;

	for (i = 0; i < nchans; i++) {
		chans[i].replay = 1;
		chan_save(&chans[i]);
	}
	die(EX_IOERR, "standard output: %s: the last events will be written "
	    "again at the next start", why);
}

/* nd_emit, but a reader that went away is reader_lost(). */
static void
emit(jv v)
{
	jv s = jv_dump_string(v, 0);
	int bad;

	bad = fputs(jv_string_value(s), stdout) == EOF ||
	    putchar('\n') == EOF || fflush(stdout) == EOF;
	jv_free(s);
	if (bad && errno == EPIPE)
		reader_lost("write error: the reader went away");
	if (bad)
		die(EX_IOERR, "write error: stdout:");
}

/* Called often: a pipe on standard output whose reader has gone says so
 * by POLLERR, long before the next event would find it. While stopping on
 * a signal (rebal-daemon stops the reader too) the clean stop goes on; the
 * state saved at exit keeps the mark. */
static void
check_reader(void)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };
	static int gone;
	int i;

	if (gone || poll(&p, 1, 0) != 1 || !(p.revents & (POLLERR | POLLHUP)))
		return;
	if (!got_term && !got_hup)
		reader_lost("the reader went away");
	gone = 1;
	for (i = 0; i < nchans; i++)
		chans[i].replay = 1;
	warnx("standard output: the reader went away: the last events will "
	    "be written again at the next start");
}

/* At start: the tail of a channel whose reader went away, again. */
static void
replay(struct chan *c)
{
	int i, n = jv_array_length(jv_copy(c->tail));

	if (!c->replay)
		return;
	warnx("%s: the last reader of standard output went away: the last "
	    "%d events written again", c->name, n);
	for (i = 0; i < n; i++)
		emit(jv_array_get(jv_copy(c->tail), i));
	c->replay = 0;
	chan_save(c);
}

static void
alert(struct chan *c, const char *reason, double from, double to)
{
	jv a = jv_object();
	char id[512], b1[32], b2[32], b3[32], *m;
	double now = wall_ms();

	if (from > 0)
		snprintf(id, sizeof id, "alert:%s:%.0f:%.0f", c->name, from, to);
	else
		snprintf(id, sizeof id, "alert:%s:%.0f", c->name, now);
	a = jv_object_set(a, jv_string("type"), jv_string("alert"));
	a = jv_object_set(a, jv_string("id"), jv_string(id));
	a = jv_object_set(a, jv_string("strategy"), jv_string(c->name));
	m = diag_mask(reason, strlen(reason));	/* stdout too: no secret */
	a = jv_object_set(a, jv_string("reason"), jv_string(m));
	free(m);
	a = jv_object_set(a, jv_string("from"),
	    from > 0 ? jv_string(fmt_ms(from, b1)) : jv_null());
	a = jv_object_set(a, jv_string("to"),
	    to > 0 ? jv_string(fmt_ms(to, b2)) : jv_null());
	a = jv_object_set(a, jv_string("at"), jv_string(fmt_ms(now, b3)));
	emit(a);
	warnx("%s: ALERT: %s", c->name, reason);
}

/* Emit message M (not consumed) of channel C unless seen before. 1 if
 * emitted. The state is written after the line is out. */
static int
handle_msg(struct chan *c, jv m, const char *source)
{
	const char *id = jvx_str(m, "id"), *exec;
	jv act = jvx_get(m, "action"), data, ev, m2;
	char *rest, ab[64];
	double ts;

	if ((jv_get_kind(act) == JV_KIND_NUMBER && jv_number_value(act) != 0) ||
	    (jv_get_kind(act) == JV_KIND_STRING &&
	    strcmp(jv_string_value(act), "message.create") != 0)) {
		ev = jv_dump_string(act, 0);
		rest = diag_mask(jv_string_value(ev), 200);
		snprintf(ab, sizeof ab, "%s", rest);
		free(rest);
		jv_free(ev);
		warnx("%s: message %s with action %s skipped (not a new "
		    "message)", c->name, id ? id : "(no id)", ab);
		return 0;
	}
	jv_free(act);
	if (id != NULL && ablm_seen_has(&c->seen, id)) {
		if (opt.verbose)
			warnx("%s: duplicate message %s (%s) skipped", c->name,
			    id, source);
		return 0;
	}
	data = ablm_decode(jvx_get(m, "data"), jvx_str(m, "encoding"), &rest);
	if (rest != NULL) {
		warnx("%s: message %s: encoding '%s' not decoded", c->name,
		    id ? id : "(no id)", rest);
		free(rest);
	}
	m2 = jv_object_set(jv_copy(m), jv_string("data"), data);
	ev = ablm_event(m2, c->name, source, tm_now());
	jv_free(m2);
	exec = jvx_str(ev, "exec");
	warnx("%s: event id=%s exec=%s source=%s", c->name,
	    id ? id : "(none)", exec ? exec : "(none)", source);
	if (exec == NULL)
		warnx("%s: message %s carries no exec", c->name,
		    id ? id : "(no id)");
	c->tail = jv_array_append(c->tail, jv_copy(ev));
	if (jv_array_length(jv_copy(c->tail)) > TAIL_MAX)
		c->tail = jv_array_slice(c->tail, 1, TAIL_MAX + 1);
	emit(ev);
	if (id != NULL) {
		ablm_seen_add(&c->seen, id);
		setstr(&c->last_id, id);
	}
	if (jvx_num(m, "timestamp", &ts) && ts > c->last_ts)
		c->last_ts = ts;
	chan_save(c);
	return 1;
}

/* ---- history backfill over REST (ably-protocol.md 4.2, 6.6) ----------- */

struct buf {
	char *p;
	size_t n;
};

static size_t
body_cb(char *d, size_t sz, size_t nm, void *u)
{
	struct buf *b = u;
	size_t n = sz * nm;

	if (b->n + n > RX_MAX)
		return 0;
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static size_t
hdr_cb(char *d, size_t sz, size_t nm, void *u)
{
	struct buf *b = u;
	size_t n = sz * nm, k;

	if (n > 5 && strncasecmp(d, "link:", 5) == 0) {
		k = n - 5;
		b->p = xrealloc(b->p, b->n + k + 3);
		if (b->n)
			b->p[b->n++] = ',';
		memcpy(b->p + b->n, d + 5, k);
		b->n += k;
		b->p[b->n] = '\0';
	}
	return n;
}

enum { H_OK, H_TRANSIENT, H_REJECTED, H_BADSERIAL };

/* GET URL: H_OK with *items (an array) and *next (malloc'd or NULL), else a
 * failure class with a message in ERR. */
static int
http_get(const char *url, int serial_mode, jv *items, char **next,
    char *err, size_t errlen)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hd = NULL;
	struct buf body = { NULL, 0 }, links = { NULL, 0 };
	char eb[CURL_ERROR_SIZE] = "";
	long status = 0;
	double code = 0;
	CURLcode rc;
	jv v, e;
	int cls = H_OK, i, n, utf8;
	char why[200];

	*items = jv_null();
	*next = NULL;
	if (h == NULL)
		die(EX_SOFTWARE, "curl_easy_init failed");
	hd = curl_slist_append(hd, "Accept: application/json");
	hd = curl_slist_append(hd, "X-Ably-Version: " PROTO_V);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_USERPWD, key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_USERAGENT, AGENT);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)REQ_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3 * (long)REQ_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, eb);
	if (getenv("SSL_CERT_FILE") && *getenv("SSL_CERT_FILE"))
		curl_easy_setopt(h, CURLOPT_CAINFO, getenv("SSL_CERT_FILE"));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, hdr_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &links);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", *eb ? eb : curl_easy_strerror(rc));
		cls = H_TRANSIENT;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	utf8 = ablm_utf8(body.p ? body.p : "", body.n);
	v = utf8 ? jvx_parse(body.p ? body.p : "", (int)body.n) :
	    jv_invalid();
	if (status / 100 != 2) {
		e = jvx_get(v, "error");
		jvx_num(e, "code", &code);
		if (jv_get_kind(e) == JV_KIND_OBJECT)
			ablm_errstr(e, err, errlen);
		else
			snprintf(err, errlen, "HTTP %ld", status);
		jv_free(e);
		jv_free(v);
		if (status >= 500 || status == 429 || status == 408)
			cls = H_TRANSIENT;
		else if (serial_mode && status != 401 && status != 403 &&
		    (status == 400 || status == 404 || code == 90008 ||
		    code == 40024))
			cls = H_BADSERIAL;
		else
			cls = H_REJECTED;
		goto out;
	}
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		snprintf(err, errlen, "history response is not %s", utf8 ?
		    "a JSON array" : "UTF-8");
		cls = H_REJECTED;
		goto out;
	}
	/* an item that cannot be placed is no reason to skip it silently */
	n = jv_array_length(jv_copy(v));
	for (i = 0; i < n && cls == H_OK; i++) {
		e = jv_array_get(jv_copy(v), i);
		if (ablm_check_msg(e, why, sizeof why) == -1)
			cls = H_REJECTED;
		else if (!jvx_num(e, "timestamp", &code)) {
			snprintf(why, sizeof why, "no timestamp");
			cls = H_REJECTED;
		}
		if (cls != H_OK)
			snprintf(err, errlen, "history item %d: %s", i, why);
		jv_free(e);
	}
	if (cls != H_OK) {
		jv_free(v);
		goto out;
	}
	*items = v;
	if (links.p)
		*next = ablm_link_next(links.p);
out:
	free(body.p);
	free(links.p);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	return cls;
}

static char *
chan_url(struct chan *c, const char *query)
{
	char *e = urlenc(c->name), *u;
	size_t n = strlen(opt.base) + strlen(e) + strlen(query) + 32;

	u = xmalloc(n);
	snprintf(u, n, "%s/channels/%s/messages%s", opt.base, e, query);
	free(e);
	return u;
}

/* The URL of a history paging link, relative to /channels/NAME/; NULL for
 * a link that leaves the server (the key is never sent elsewhere). */
static char *
link_url(struct chan *c, const char *link)
{
	char *e, *u;
	size_t n;

	n = strlen(opt.base) + 3 * strlen(c->name) + strlen(link) + 32;
	u = xmalloc(n);
	if (strncmp(link, "./", 2) == 0 || (link[0] != '/' &&
	    strstr(link, "://") == NULL && link[0] != '?')) {
		e = urlenc(c->name);
		snprintf(u, n, "%s/channels/%s/%s", opt.base, e,
		    link + (link[0] == '.' ? 2 : 0));
		free(e);
	} else if (link[0] == '?') {
		free(u);
		return chan_url(c, link);
	} else if (link[0] == '/')
		snprintf(u, n, "%s%s", opt.base, link);
	else if (strncmp(link, opt.base, strlen(opt.base)) == 0 &&
	    link[strlen(opt.base)] == '/')
		snprintf(u, n, "%s", link);
	else {
		free(u);
		return NULL;
	}
	return u;
}

static void
gap_open(struct chan *c, double from, double to, const char *serial)
{
	if (c->gap) {
		if (from < c->gap_from)
			c->gap_from = from;
		if (to > c->gap_to)
			c->gap_to = to;
	} else {
		c->gap_from = from;
		c->gap_to = to;
	}
	setstr(&c->gap_serial, serial);
	c->gap = 1;
	c->gap_tries = 0;
	c->gap_next = mono_ms();
}

static int
ts_cmp(const void *a, const void *b)
{
	double x = 0, y = 0;

	jvx_num(*(const jv *)a, "timestamp", &x);
	jvx_num(*(const jv *)b, "timestamp", &y);
	return (x > y) - (x < y);
}

static void
backfill(struct chan *c)
{
	double from = c->gap_from, to = c->gap_to, lo = from - MARGIN, ts;
	int serial_mode = c->gap_serial != NULL, reached = 0, stop, cls;
	int pages = 0, i, n, total = 0, fresh = 0, old = 0;
	char q[1024], err[512], b1[32], b2[32], why[700], *url, *next, *es;
	jv items, all = jv_array(), m;
	jv *v;

restart:
	if (serial_mode) {
		es = urlenc(c->gap_serial);
		snprintf(q, sizeof q, "?from_serial=%s&limit=1000", es);
		free(es);
	} else
		snprintf(q, sizeof q, "?start=%.0f&direction=forwards&"
		    "limit=1000", lo > 0 ? lo : 0);
	url = chan_url(c, q);
	for (stop = 0; url != NULL && !stop; ) {
		cls = http_get(url, serial_mode, &items, &next, err, sizeof err);
		free(url);
		url = NULL;
		if (cls == H_BADSERIAL) {
			warnx("%s: history refused from_serial (%s); reading by "
			    "time instead", c->name, err);
			serial_mode = 0;
			jv_free(all);
			all = jv_array();
			reached = 0;
			pages = 0;
			goto restart;
		}
		if (cls != H_OK)
			goto fail;
		n = jv_array_length(jv_copy(items));
		for (i = 0; i < n; i++) {	/* http_get checked them */
			m = jv_array_get(jv_copy(items), i);
			jvx_num(m, "timestamp", &ts);
			if (ts <= from)
				reached = 1;
			if (ts < lo) {
				if (serial_mode)
					stop = 1;	/* newest first */
				jv_free(m);
				continue;
			}
			all = jv_array_append(all, m);
		}
		jv_free(items);
		if (next != NULL && !stop) {
			if (++pages >= HIST_PAGES) {
				free(next);
				snprintf(err, sizeof err, "more than %d pages",
				    HIST_PAGES);
				cls = H_REJECTED;
				goto fail;
			}
			if ((url = link_url(c, next)) == NULL) {
				snprintf(err, sizeof err, "paging link leaves "
				    "the server: refused");
				free(next);
				cls = H_REJECTED;
				goto fail;
			}
		}
		free(next);
	}
	/* chronological order; ties keep the server's order (stable) */
	n = jv_array_length(jv_copy(all));
	v = xmalloc(sizeof *v * (size_t)(n ? n : 1));
	for (i = 0; i < n; i++)
		v[serial_mode ? n - 1 - i : i] = jv_array_get(jv_copy(all), i);
	for (i = 1; i < n; i++) {	/* insertion sort: stable, mostly sorted */
		jv t = v[i];
		int j = i - 1;

		while (j >= 0 && ts_cmp(&v[j], &t) > 0) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = t;
	}
	for (i = 0; i < n; i++) {
		total++;
		/* published before this channel was ever attached: not ours
		 * (no lookback on a first start) */
		if (c->since > 0 && jvx_num(v[i], "timestamp", &ts) &&
		    ts < c->since)
			old++;
		else
			fresh += handle_msg(c, v[i], "history");
		jv_free(v[i]);
	}
	free(v);
	jv_free(all);
	warnx("%s: backfill %s .. %s by %s: %d in history, %d new%s", c->name,
	    fmt_ms(from, b1), fmt_ms(to, b2), serial_mode ? "from_serial" :
	    "start", total, fresh, old ? " (older than the first attach "
	    "left out)" : "");
	if (!reached && to - from > opt.retention) {
		snprintf(why, sizeof why, "history does not reach back to the "
		    "start of the gap (%.0f s, retention %.0f s): events in it "
		    "may be missed", (to - from) / 1e3, opt.retention / 1e3);
		alert(c, why, from, to);
	}
	c->gap = 0;
	return;
fail:
	jv_free(all);
	if (cls == H_TRANSIENT && ++c->gap_tries < HIST_TRIES) {
		warnx("%s: history failed: %s; retrying in %d s", c->name, err,
		    2 * c->gap_tries);
		c->gap_next = mono_ms() + 2000.0 * c->gap_tries;
		return;
	}
	snprintf(why, sizeof why, "history unavailable for the gap: %s", err);
	alert(c, why, from, to);
	c->gap = 0;
}

/* ---- the realtime connection ----------------------------------------- */

static void
send_frame(jv f)
{
	jv s = jv_dump_string(f, 0);

	if (opt.verbose)
		warnx("> %s", jv_string_value(s));
	if (tx.n == tx.cap)
		tx.v = xrealloc(tx.v, sizeof *tx.v * (tx.cap = 2 * tx.cap + 4));
	tx.v[tx.n++] = xstrdup(jv_string_value(s));
	jv_free(s);
	if (wsi != NULL)
		lws_callback_on_writable(wsi);
}

static void
tx_clear(void)
{
	while (tx.n > 0)
		free(tx.v[--tx.n]);
}

static void
set_cstate(enum cst st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
set_cstate(enum cst st, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int n;

	cstate = st;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	msg = xmalloc(n > 0 ? (size_t)n + 1 : 1);
	*msg = '\0';
	va_start(ap, fmt);
	if (n > 0)
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	warnx("%s%s%s", cst_name[st], *msg ? ": " : "", msg);
	free(msg);
}

static void
drop_transport(void)
{
	int i;

	if (wsi != NULL && wsi != in_cb)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	wsi = NULL;
	cur_gen = 0;
	tx_clear();
	rx.n = 0;
	for (i = 0; i < nchans; i++)
		chans[i].delivering = 0;
}

static double
retry_delay(void)
{
	double f = (fails + 2) / 3.0;

	if (cstate == C_SUSPENDED)
		return SUSPENDED_RETRY;
	if (f > 2)
		f = 2;
	return RETRY_BASE * f * (0.8 + 0.2 * drand48());
}

static void
suspend(void)
{
	int i;

	for (i = 0; i < nchans; i++)
		if (chans[i].st == CH_ATTACHED || chans[i].st == CH_ATTACHING) {
			chans[i].st = CH_SUSPENDED;
			chans[i].attach_dl = 0;
		}
	set_cstate(C_SUSPENDED, "no connection for %.0f s; retrying every "
	    "%.0f s", state_ttl / 1e3, SUSPENDED_RETRY / 1e3);
}

/* The transport failed or closed. IMMEDIATE: an established connection
 * was lost (first retry at once, RTN15a). STATUS: the exit status with -1. */
static void
transport_lost(const char *why, int status, int immediate)
{
	double now = mono_ms();
	int i;

	drop_transport();
	if (cstate == C_CLOSING) {
		finished = 1;
		return;
	}
	if (opt.once)
		die(status, "%s; giving up (-1)", why);
	for (i = 0; i < nchans; i++)
		chans[i].attach_dl = 0;
	if (lost_at == 0)
		lost_at = now;
	if (immediate) {
		fails = 0;
		t_retry = last_attempt + 1000 > now ? last_attempt + 1000 : now;
	} else {
		fails++;
		t_retry = now + retry_delay();
	}
	if (cstate != C_SUSPENDED && now - lost_at >= state_ttl)
		suspend();
	if (cstate == C_SUSPENDED && !immediate)
		t_retry = now + SUSPENDED_RETRY;
	if (cstate != C_SUSPENDED)
		cstate = C_DISCONNECTED;
	set_cstate(cstate, "%s; retrying in %.1f s", why, (t_retry - now) / 1e3);
}

/* Exit status for a connection-level error code: 77 or 78 for those that
 * no retry can cure, 0 for the others. */
static int
fatal_status(double code, double status)
{
	long c = code > -1e9 && code < 1e9 ? (long)code : 0;

	if (c == 40103 || c == 40017 || c == 80024)
		return EX_CONFIG;
	if (c / 100 == 401 && !(c >= 40140 && c <= 40149))
		return EX_NOPERM;
	if (c / 100 == 403)
		return EX_NOPERM;
	if (c == 0 && (status == 401 || status == 403))
		return EX_NOPERM;
	return 0;
}

static void
connect_now(void)
{
	struct lws_client_connect_info ci;
	char *path, *rk = NULL;
	size_t n;
	struct lws *w;

	if (conn_key != NULL)
		rk = urlenc(conn_key);
	else if (recover_key != NULL)
		rk = urlenc(recover_key);
	n = strlen(key_q) + (rk ? strlen(rk) : 0) + 128;
	path = xmalloc(n);
	snprintf(path, n, "/?key=%s&format=json&heartbeats=true&v=" PROTO_V
	    "&agent=%s%s%s", key_q, "rebal-ably-listen%2F0.1",
	    rk ? (conn_key ? "&resume=" : "&recover=") : "", rk ? rk : "");
	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	ci.address = opt.host;
	ci.port = opt.port;
	ci.path = path;
	ci.host = opt.hosthdr;
	ci.origin = opt.hosthdr;
	ci.ssl_connection = opt.tls ? LCCSCF_USE_SSL : 0;
	ci.local_protocol_name = "ably";
	ci.alpn = "http/1.1";
	ci.opaque_user_data = (void *)++gen;
	cur_gen = gen;
	last_attempt = t_connect = mono_ms();
	t_connect += REQ_TIMEOUT;
	set_cstate(C_CONNECTING, "%s:%d%s", opt.host, opt.port, conn_key ?
	    " (resume)" : recover_key ? " (recover)" : "");
	w = lws_client_connect_via_info(&ci);
	/* the key and path are no longer needed; lws copied them */
	memset(path, 0, n);
	free(path);
	free(rk);
	if (w == NULL) {
		if (cstate == C_CONNECTING && cur_gen == gen) {
			cur_gen = 0;
			transport_lost("cannot start a connection",
			    EX_UNAVAILABLE, 0);
		}
	} else if (cur_gen == gen)
		wsi = w;
}

static void
attach(struct chan *c)
{
	jv f = jv_object();

	f = jv_object_set(f, jv_string("action"), jv_number(ABLM_ATTACH));
	f = jv_object_set(f, jv_string("channel"), jv_string(c->name));
	if (c->serial != NULL)
		f = jv_object_set(f, jv_string("channelSerial"),
		    jv_string(c->serial));
	send_frame(f);
	c->st = CH_ATTACHING;
	c->delivering = 0;
	c->attach_dl = mono_ms() + REQ_TIMEOUT;
	c->retry_at = 0;
	warnx("%s: attaching%s%s", c->name, c->serial ? " serial=" : "",
	    c->serial ? c->serial : "");
}

static void
reset_idle(void)
{
	double m = max_idle > 0 ? max_idle : NO_IDLE_PING, now = mono_ms();
	int i;

	t_idle = now + m + REQ_TIMEOUT;
	t_ping = max_idle > 0 ? 0 : now + m;
	for (i = 0; i < nchans; i++)
		if (chans[i].delivering)
			chans[i].alive = wall_ms();
}

_Noreturn static void
protocol_error(const char *what)
{
	die(EX_PROTOCOL, "protocol error: %s", what);
}

static void
on_connected(jv f)
{
	jv det = jvx_get(f, "connectionDetails"), err = jvx_get(f, "error");
	const char *id = jvx_str(f, "connectionId");
	const char *k = jvx_str(det, "connectionKey");
	char eb[400] = "", *old;
	double v;
	int i, renewed;

	if (k == NULL)
		k = jvx_str(f, "connectionKey");
	if (jv_get_kind(det) != JV_KIND_OBJECT || k == NULL || id == NULL)
		protocol_error("CONNECTED without connectionId and "
		    "connectionDetails.connectionKey");
	if (jv_get_kind(err) == JV_KIND_OBJECT)
		ablm_errstr(err, eb, sizeof eb);
	max_idle = jvx_num(det, "maxIdleInterval", &v) && v > 0 ? v : 0;
	if (max_idle > MAX_IDLE_CAP) {
		warnx("maxIdleInterval %g ms from the server: waiting at most "
		    "%.0f ms", max_idle, MAX_IDLE_CAP);
		max_idle = MAX_IDLE_CAP;
	}
	state_ttl = jvx_num(det, "connectionStateTtl", &v) && v > 0 ? v :
	    STATE_TTL;
	if (cstate == C_CONNECTED) {	/* RTN24: an update, nothing else */
		setstr(&conn_key, k);
		warnx("connection details updated%s%s", *eb ? ": " : "", eb);
		conn_save();
		goto out;
	}
	/* a new connection (or a new process): read history at the next
	 * ATTACHED of every channel even if it says RESUMED */
	if (conn_id == NULL || strcmp(conn_id, id) != 0)
		for (i = 0; i < nchans; i++)
			chans[i].newconn = 1;
	old = conn_id;
	conn_id = xstrdup(id);
	setstr(&conn_key, k);
	free(recover_key);
	recover_key = NULL;
	lost_at = 0;
	fails = 0;
	renewed = old != NULL && strcmp(old, id) != 0;
	set_cstate(C_CONNECTED, "id=%s %s%s%s%s%s%s%s; maxIdleInterval %.0f ms, "
	    "connectionStateTtl %.0f ms", id, old != NULL && !renewed ?
	    "resumed" : "new connection", renewed ? "; " : "",
	    renewed ? old : "", renewed ? " was not resumed" : "",
	    *eb ? " (" : "", eb, *eb ? ")" : "", max_idle, state_ttl);
	free(old);
	reset_idle();
	conn_save();
	for (i = 0; i < nchans; i++)
		if (chans[i].st != CH_FAILED)
			attach(&chans[i]);
out:
	jv_free(det);
	jv_free(err);
}

static void
on_attached(struct chan *c, jv f)
{
	double flags = 0, now = wall_ms();
	const char *serial = jvx_str(f, "channelSerial");
	jv err = jvx_get(f, "error");
	char eb[400] = "", b[32];
	int resumed, nc, solicited = c->st != CH_ATTACHED;

	if (jv_get_kind(err) == JV_KIND_OBJECT)
		ablm_errstr(err, eb, sizeof eb);
	jv_free(err);
	jvx_num(f, "flags", &flags);
	resumed = ((long)flags & ABLM_RESUMED) != 0;
	if (!solicited && resumed)
		goto out;	/* unsolicited and continuous: nothing to do */
	nc = c->newconn;
	c->newconn = 0;
	warnx("%s: attached resumed=%d%s%s%s%s", c->name, resumed,
	    ((long)flags & ABLM_HAS_BACKLOG) ? " backlog" : "",
	    solicited ? "" : " (server update)", *eb ? ": " : "", eb);
	if ((long)flags >= (1L << 16) && !((long)flags & (1L << 18)))
		warnx("%s: the server did not grant the subscribe mode",
		    c->name);
	if (!resumed || nc) {
		setstr(&c->attach_serial, serial);
		if (c->alive > 0) {
			warnx("%s: %s since %s: reading history", c->name,
			    resumed ? "resumed on a new connection" :
			    "continuity lost", fmt_ms(c->alive, b));
			gap_open(c, c->alive, now, serial);
		} else {
			warnx("%s: first attach, no earlier position: history "
			    "not read", c->name);
			if (c->since == 0)
				c->since = now;
		}
	}
out:
	c->st = CH_ATTACHED;
	c->delivering = 1;
	c->attach_dl = 0;
	c->attempts = 0;
	if (serial != NULL && *serial)
		setstr(&c->serial, serial);
	c->alive = now;
	chan_save(c);
}

static void
on_frame(jv f)
{
	double a;
	const char *ch = jvx_str(f, "channel");
	struct chan *c = chan_find(ch);
	jv err, ms;
	char eb[400] = "", why[500];
	int i, n, st;

	if (!jvx_num(f, "action", &a))
		protocol_error("frame without an action");
	reset_idle();
	err = jvx_get(f, "error");
	if (jv_get_kind(err) == JV_KIND_OBJECT)
		ablm_errstr(err, eb, sizeof eb);
	switch ((int)a) {
	case ABLM_CONNECTED:
		on_connected(f);
		break;
	case ABLM_DISCONNECTED:
		if ((st = fatal_status(jvx_num(err, "code", &a) ? a : 0, 0)))
			die(st, "server refused: %s", eb);
		snprintf(why, sizeof why, "server DISCONNECTED: %s", eb);
		transport_lost(why, EX_UNAVAILABLE, cstate == C_CONNECTED);
		break;
	case ABLM_ERROR:
		if (ch != NULL) {
			if (c == NULL)
				break;
			c->st = CH_FAILED;
			c->delivering = 0;
			c->attach_dl = 0;
			c->retry_at = mono_ms() + FAILED_RETRY;
			warnx("%s: failed: %s; attaching again in %.0f s",
			    c->name, eb, FAILED_RETRY / 1e3);
			snprintf(why, sizeof why, "channel failed, no events "
			    "until it attaches again: %s", eb);
			alert(c, why, 0, 0);
			break;
		}
		{
			double code = 0, sc = 0;

			jvx_num(err, "code", &code);
			jvx_num(err, "statusCode", &sc);
			if ((st = fatal_status(code, sc)))
				die(st, "server refused: %s", eb);
		}
		/* the server drops the connection state: start afresh */
		free(conn_key);
		conn_key = NULL;
		snprintf(why, sizeof why, "server ERROR: %s", eb);
		transport_lost(why, EX_UNAVAILABLE, 0);
		break;
	case ABLM_ATTACHED:
		if (c != NULL)
			on_attached(c, f);
		break;
	case ABLM_DETACHED:
		if (c == NULL)
			break;
		warnx("%s: detached by the server%s%s", c->name,
		    *eb ? ": " : "", eb);
		c->delivering = 0;
		if (c->st == CH_ATTACHING) {
			c->st = CH_SUSPENDED;
			c->attach_dl = 0;
			c->retry_at = mono_ms() + CHANNEL_RETRY;
		} else if (cstate == C_CONNECTED)
			attach(c);
		break;
	case ABLM_MESSAGE:
		if (c == NULL)
			break;
		ms = ablm_messages(f);
		n = jv_array_length(jv_copy(ms));
		for (i = 0; i < n; i++) {
			jv m = jv_array_get(jv_copy(ms), i);

			handle_msg(c, m, "ably");
			jv_free(m);
		}
		jv_free(ms);
		if (jvx_str(f, "channelSerial") && *jvx_str(f, "channelSerial"))
			setstr(&c->serial, jvx_str(f, "channelSerial"));
		if (c->delivering)
			c->alive = wall_ms();
		chan_save(c);
		break;
	case ABLM_CLOSED:
		if (cstate == C_CLOSING)
			finished = 1;
		else
			transport_lost("server CLOSED the connection",
			    EX_UNAVAILABLE, 1);
		break;
	case ABLM_AUTH:
		transport_lost("server asked to authenticate again",
		    EX_UNAVAILABLE, 1);
		break;
	default:		/* HEARTBEAT, ACK, NACK, PRESENCE, SYNC, ... */
		break;
	}
	jv_free(err);
}

static int
callback(struct lws *w, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	uintptr_t g = (uintptr_t)lws_get_opaque_user_data(w);
	char why[300], bf[280];
	unsigned int hs;
	unsigned char *b;
	size_t n;
	int rv = 0;
	jv f;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (g == 0 || g != cur_gen)
			break;
		wsi = NULL;
		cur_gen = 0;
		hs = lws_http_client_http_response(w);
		if (in != NULL)
			snprintf(why, sizeof why, "connection failed: %.*s",
			    (int)strnlen(in, len ? len : 200), (char *)in);
		else
			snprintf(why, sizeof why, "connection failed");
		if (hs == 401 || hs == 403)
			die(EX_NOPERM, "server refused the key: HTTP %u", hs);
		transport_lost(why, EX_UNAVAILABLE, 0);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (g != cur_gen)
			return -1;
		if (opt.verbose)
			warnx("websocket open; waiting for CONNECTED");
		t_connect = mono_ms() + REQ_TIMEOUT;
		close_why[0] = '\0';
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (g != cur_gen)
			return -1;
		if (lws_frame_is_binary(w))
			protocol_error("a binary frame (only format=json is "
			    "spoken)");
		if (rx.n + len > RX_MAX)
			protocol_error("a message larger than 16 MiB");
		if (rx.n + len + 1 > rx.cap)
			rx.p = xrealloc(rx.p, rx.cap = 2 * (rx.n + len) + 1);
		memcpy(rx.p + rx.n, in, len);
		rx.n += len;
		if (!lws_is_final_fragment(w) ||
		    lws_remaining_packet_payload(w) != 0)
			break;
		if (opt.verbose) {	/* masked before it is cut */
			char *t = diag_mask(rx.p, rx.n);

			warnx("< %.400s", t);
			free(t);
		}
		n = rx.n;
		rx.n = 0;
		if (!ablm_utf8(rx.p, n))
			protocol_error("a text frame that is not UTF-8");
		f = jvx_parse(rx.p, (int)n);
		if (!jv_is_valid(f)) {
			jv_free(f);
			protocol_error("a frame that is not JSON");
		}
		if (ablm_check(f, bf, sizeof bf) == -1) {
			jv_free(f);
			snprintf(why, sizeof why, "bad frame: %s", bf);
			protocol_error(why);
		}
		in_cb = w;
		on_frame(f);
		in_cb = NULL;
		jv_free(f);
		if (g != cur_gen)
			rv = -1;	/* dropped while handling the frame */
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (g != cur_gen)
			return -1;
		if (tx.n == 0)
			break;
		n = strlen(tx.v[0]);
		b = xmalloc(LWS_PRE + n);
		memcpy(b + LWS_PRE, tx.v[0], n);
		if (lws_write(w, b + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n) {
			free(b);
			in_cb = w;
			transport_lost("write failed", EX_UNAVAILABLE,
			    cstate == C_CONNECTED);
			in_cb = NULL;
			return -1;
		}
		free(b);
		free(tx.v[0]);
		memmove(tx.v, tx.v + 1, --tx.n * sizeof *tx.v);
		if (tx.n > 0)
			lws_callback_on_writable(w);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (g == cur_gen && len >= 2) {
			char *t;

			b = in;
			t = diag_mask((char *)b + 2, len - 2);
			snprintf(close_why, sizeof close_why, " (close code "
			    "%d%s%.98s)", b[0] << 8 | b[1], *t ? ": " : "", t);
			free(t);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (g == 0 || g != cur_gen)
			break;
		wsi = NULL;
		cur_gen = 0;
		snprintf(why, sizeof why, "connection closed%s", close_why);
		transport_lost(why, EX_UNAVAILABLE, cstate == C_CONNECTED);
		break;
	default:
		break;
	}
	return rv;
}

static const struct lws_protocols protocols[] = {
	{ "ably", callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* lws's own log lines only with -v, and never one that holds the key. */
static void
lws_log(int level, const char *line)
{
	(void)level;
	if (strstr(line, "key=") != NULL || (key && strstr(line, key)) ||
	    (key_q && strstr(line, key_q)))
		warnx("lws: (a line that may hold the key withheld)");
	else
		warnx("lws: %.*s", (int)strcspn(line, "\n"), line);
}

/* ---- timers and the main loop ---------------------------------------- */

static void
wake_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

static void
dl(double *m, double t)
{
	if (t > 0 && t < *m)
		*m = t;
}

static void
timers(void)
{
	double now = mono_ms();
	struct chan *c;
	jv f;
	char b[64];
	int i;

	if (cstate == C_CONNECTING && now >= t_connect)
		transport_lost("timed out connecting", EX_TEMPFAIL, 0);
	if (cstate == C_CONNECTED && now >= t_idle) {
		snprintf(b, sizeof b, "no activity for %.0f s",
		    ((max_idle > 0 ? max_idle : NO_IDLE_PING) + REQ_TIMEOUT) /
		    1e3);
		transport_lost(b, EX_TEMPFAIL, 1);
	}
	if (cstate == C_CONNECTED && t_ping > 0 && now >= t_ping) {
		f = jv_object_set(jv_object(), jv_string("action"),
		    jv_number(ABLM_HEARTBEAT));
		snprintf(b, sizeof b, "%ld", (long)(now / 1e3));
		send_frame(jv_object_set(f, jv_string("id"), jv_string(b)));
		t_ping = 0;
	}
	if (cstate == C_DISCONNECTED && now - lost_at >= state_ttl)
		suspend();
	if ((cstate == C_DISCONNECTED || cstate == C_SUSPENDED) &&
	    now >= t_retry && !got_term)
		connect_now();
	if (cstate == C_CLOSING && now >= t_close) {
		warnx("no CLOSED within %.0f s", REQ_TIMEOUT / 1e3);
		finished = 1;
	}
	for (i = 0; i < nchans; i++) {
		c = &chans[i];
		if (cstate == C_CONNECTED && c->st == CH_ATTACHING &&
		    c->attach_dl > 0 && now >= c->attach_dl) {
			c->attempts++;
			c->st = CH_SUSPENDED;
			c->attach_dl = 0;
			c->retry_at = now + CHANNEL_RETRY * (c->attempts < 3 ?
			    (c->attempts + 2) / 3.0 : 2) * (0.8 + 0.2 *
			    drand48());
			warnx("%s: no ATTACHED within %.0f s; suspended, "
			    "retrying in %.1f s", c->name, REQ_TIMEOUT / 1e3,
			    (c->retry_at - now) / 1e3);
		}
		if (cstate == C_CONNECTED && (c->st == CH_SUSPENDED ||
		    c->st == CH_FAILED) && c->retry_at > 0 &&
		    now >= c->retry_at)
			attach(c);
		if (c->gap && now >= c->gap_next)
			backfill(c);
		if (c->alive - c->saved_alive >= ALIVE_SAVE)
			chan_save(c);
	}
	if (cstate == C_CONNECTED && now - conn_saved >= ALIVE_SAVE)
		conn_save();
	check_reader();
}

static double
next_deadline(void)
{
	double m = mono_ms() + 250;
	int i;

	if (cstate == C_CONNECTING)
		dl(&m, t_connect);
	if (cstate == C_CONNECTED) {
		dl(&m, t_idle);
		dl(&m, t_ping);
	}
	if (cstate == C_DISCONNECTED || cstate == C_SUSPENDED)
		dl(&m, t_retry);
	if (cstate == C_CLOSING)
		dl(&m, t_close);
	for (i = 0; i < nchans; i++) {
		dl(&m, chans[i].attach_dl);
		dl(&m, chans[i].retry_at);
		if (chans[i].gap)
			dl(&m, chans[i].gap_next);
	}
	return m;
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

static void
shutdown_step(void)
{
	jv f;

	if (got_hup && !closing_started) {
		closing_started = 1;
		keep_key = 1;
		warnx("SIGHUP: leaving without CLOSE; the connection key is "
		    "kept for recover");
		finished = 1;
		return;
	}
	if (!got_term || closing_started)
		return;
	closing_started = 1;
	if (cstate == C_CONNECTED && wsi != NULL) {
		f = jv_object_set(jv_object(), jv_string("action"),
		    jv_number(ABLM_CLOSE));
		send_frame(f);
		t_close = mono_ms() + REQ_TIMEOUT;
		set_cstate(C_CLOSING, "signal");
	} else
		finished = 1;
}

/* ---- configuration --------------------------------------------------- */

static void
add_channel(const char *name)
{
	char *fn;
	size_t n;

	if (*name == '\0')
		die(EX_USAGE, "empty channel name");
	if (chan_find(name))
		return;
	chans = xrealloc(chans, sizeof *chans * (size_t)(nchans + 1));
	memset(&chans[nchans], 0, sizeof *chans);
	chans[nchans].name = xstrdup(name);
	fn = ablm_fname(name);
	n = strlen(fn) + 8;
	chans[nchans].path = xmalloc(n);
	snprintf(chans[nchans].path, n, "%s.json", fn);
	free(fn);
	nchans++;
}

static void
load_accounts(const char *path, int mode)
{
	struct acct_list l;
	const char **v;
	size_t i, n;
	int st;

	if ((st = acct_load(path, &l)) != 0)
		exit(st);
	n = acct_strategies(&l, mode, &v);
	if (n == 0)
		die(EX_CONFIG, "%s: no enabled %s account", path,
		    mode == ACCT_ANY ? "" : acct_type_name(mode));
	for (i = 0; i < n; i++)
		add_channel(v[i]);
	free(v);
	acct_free(&l);
}

static int
loopback(const char *h)
{
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 ||
	    strcmp(h, "::1") == 0;
}

static void
parse_host(const char *arg)
{
	const char *p, *port = NULL;

	free(opt.host);
	if (arg[0] == '[') {
		if ((p = strchr(arg, ']')) == NULL || (p[1] != '\0' &&
		    p[1] != ':'))
			die(EX_USAGE, "-H: bad host '%s'", arg);
		opt.host = xmalloc((size_t)(p - arg));
		memcpy(opt.host, arg + 1, (size_t)(p - arg - 1));
		opt.host[p - arg - 1] = '\0';
		if (p[1] == ':')
			port = p + 2;
	} else if ((p = strchr(arg, ':')) != NULL && strchr(p + 1, ':') ==
	    NULL) {
		opt.host = xmalloc((size_t)(p - arg) + 1);
		memcpy(opt.host, arg, (size_t)(p - arg));
		opt.host[p - arg] = '\0';
		port = p + 1;
	} else
		opt.host = xstrdup(arg);
	if (*opt.host == '\0')
		die(EX_USAGE, "-H: empty host");
	opt.port = port ? (int)opt_long('H', port, 1, 65535) : 0;
}

static void
chan_free(struct chan *c)
{
	free(c->name);
	free(c->path);
	free(c->serial);
	free(c->attach_serial);
	free(c->last_id);
	free(c->gap_serial);
	ablm_seen_free(&c->seen);
	jv_free(c->tail);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	lws_sorted_usec_list_t wake;
	struct sigaction sa;
	const char *file = NULL, *mode = NULL, *st;
	int amode;
	char *dir, *hash, *p, b[64];
	unsigned long h = 5381;
	size_t n;
	int ch, i, fixed_port;

	diag_init(argv[0]);
	opt.host = xstrdup("main.realtime.ably.net");
	opt.tls = 1;
	while ((ch = getopt(argc, argv, "1f:H:hm:r:Tv")) != -1) {
		switch (ch) {
		case '1':
			opt.once = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'H':
			parse_host(optarg);
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'm':
			if (acct_mode(optarg) == -1)
				die(EX_USAGE, "-m: want paper, live or all");
			mode = optarg;
			break;
		case 'r':
			opt.retention = 1e3 * (double)opt_long('r', optarg, 0,
			    100L * 365 * 86400);
			break;
		case 'T':
			opt.tls = 0;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	}
	argc -= optind;
	argv += optind;
	if (mode != NULL && file == NULL)
		die(EX_USAGE, "-m needs -f");
	if (!opt.tls && !loopback(opt.host))
		die(EX_USAGE, "-T: plain ws only to a loopback host (the key "
		    "would travel in clear)");
	/* a closed stdout would hand fd 1 to a socket or a state file */
	if (fcntl(STDOUT_FILENO, F_GETFD) == -1)
		die(EX_IOERR, "stdout:");
	fixed_port = opt.port != 0;
	if (!fixed_port)
		opt.port = opt.tls ? 443 : 80;
	n = strlen(opt.host) + 16;
	opt.hosthdr = xmalloc(n);
	opt.base = xmalloc(n + 16);
	if (fixed_port && opt.port != (opt.tls ? 443 : 80))
		snprintf(b, sizeof b, ":%d", opt.port);
	else
		b[0] = '\0';
	snprintf(opt.hosthdr, n, "%s%s%s%s", strchr(opt.host, ':') ? "[" : "",
	    opt.host, strchr(opt.host, ':') ? "]" : "", b);
	snprintf(opt.base, n + 16, "%s://%s", opt.tls ? "https" : "http",
	    opt.hosthdr);

	for (i = 0; i < argc; i++)
		add_channel(argv[i]);
	if (file != NULL) {
		amode = mode ? acct_mode(mode) : acct_mode_env();
		if (amode == -1)
			exit(EX_CONFIG);
		load_accounts(file, amode);
	}
	if (nchans == 0)
		usage(SYNOPSIS, 0);

	if ((key = secret_get("ABLY_API_KEY")) == NULL &&
	    (key = secret_get("REALTIME_API_KEY")) == NULL)
		die(EX_CONFIG, "no API key: set ABLY_API_KEY or "
		    "REALTIME_API_KEY (or ABLY_API_KEY_FILE)");
	p = strchr(key, ':');
	if (p == NULL || p == key || p[1] == '\0' ||
	    key[strcspn(key, " \t\r\n")] != '\0')
		die(EX_CONFIG, "the API key is malformed (want "
		    "APPID.KEYID:SECRET)");
	key_q = urlenc(key);
	/* no diagnostic shows the key, whatever a server sends back */
	diag_secret(key);
	diag_secret(key_q);
	if (strlen(p + 1) >= 8) {
		diag_secret(p + 1);
		p = urlenc(p + 1);
		diag_secret(p);
		free(p);
	}

	/* state: $REBAL_STATE/ably/CHANNEL.json, connection-HASH.json */
	st = getenv("REBAL_STATE");
	if (st == NULL || *st == '\0')
		st = "./state";
	n = strlen(st) + 8;
	dir = xmalloc(n);
	snprintf(dir, n, "%s/ably", st);
	if (atom_mkdirs(dir, 0700) == -1)
		die(EX_IOERR, "%s:", dir);
	for (i = 0; i < nchans; i++) {
		p = chans[i].path;
		n = strlen(dir) + strlen(p) + 2;
		chans[i].path = xmalloc(n);
		snprintf(chans[i].path, n, "%s/%s", dir, p);
		free(p);
		chan_load(&chans[i]);
		for (p = chans[i].name; *p; p++)
			h = h * 33 + (unsigned char)*p;
		h = h * 33 + '\n';
	}
	for (p = opt.hosthdr; *p; p++)
		h = h * 33 + (unsigned char)*p;
	hash = xmalloc(32);
	snprintf(hash, 32, "%08lx", h & 0xffffffffUL);
	n = strlen(dir) + 48;
	connpath = xmalloc(n);
	snprintf(connpath, n, "%s/connection-%s.json", dir, hash);
	free(hash);
	free(dir);
	conn_load();

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die(EX_SOFTWARE, "curl_global_init failed");
	srand48((long)time(NULL) ^ (long)getpid());
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(opt.verbose ? LLL_ERR | LLL_WARN : 0, lws_log);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (getenv("SSL_CERT_FILE") && *getenv("SSL_CERT_FILE"))
		info.client_ssl_ca_filepath = getenv("SSL_CERT_FILE");
	else if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
		info.client_ssl_ca_filepath =
		    "/etc/ssl/certs/ca-certificates.crt";
	if ((ctx = lws_create_context(&info)) == NULL)
		die(EX_SOFTWARE, "cannot create the websocket context");

	{
		char list[1024] = "";

		for (i = 0; i < nchans; i++)
			snprintf(list + strlen(list), sizeof list -
			    strlen(list), "%s%s", i ? ", " : "",
			    chans[i].name);
		warnx("channels: %s; state in %s/ably", list, st);
	}
	for (i = 0; i < nchans; i++)
		replay(&chans[i]);
	connect_now();
	memset(&wake, 0, sizeof wake);
	while (!finished) {
		double d = next_deadline() - mono_ms();

		lws_sul_schedule(ctx, 0, &wake, wake_cb,
		    (lws_usec_t)(d > 1 ? d * 1000 : 1000));
		lws_service(ctx, 0);
		if (finished)
			break;
		timers();
		shutdown_step();
	}

	/* we listened up to now on every attached channel */
	for (i = 0; i < nchans; i++) {
		if (chans[i].delivering)
			chans[i].alive = wall_ms();
		chan_save(&chans[i]);
	}
	if (keep_key)
		conn_save();
	else if (unlink(connpath) == -1 && errno != ENOENT)
		warnx("%s:", connpath);
	lws_sul_cancel(&wake);
	if (cstate != C_CLOSING || !closing_started)
		warnx("stopped");
	else
		warnx("closed");
	lws_context_destroy(ctx);
	curl_global_cleanup();
	for (i = 0; i < nchans; i++)
		chan_free(&chans[i]);
	free(chans);
	free(conn_id);
	free(conn_key);
	free(recover_key);
	free(rx.p);
	tx_clear();
	free(tx.v);
	free(connpath);
	free(opt.host);
	free(opt.hosthdr);
	free(opt.base);
	memset(key, 0, strlen(key));
	free(key);
	free(key_q);
	nd_finish();
	return 0;
}
