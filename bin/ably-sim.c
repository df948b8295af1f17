/* ably-sim: an offline Ably on one loopback port: the realtime WebSocket
 * protocol (JSON, v2..v6), REST publish, history and time, and faults that a
 * test switches at run time through /_sim/. See ably-sim(1). */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <jv.h>

#include "diag.h"
#include "jvx.h"
#include "yml.h"

#define SYNOPSIS "[-hv] [-f scenario] [-i idle-ms] [-j journal] [-k keyfile]\n" \
	"\t[-p port] [-r retention-ms] [-t ttl-ms] [-w replay-ms]"

/* ProtocolMessage actions (TR2) and flags (TR3). */
enum {
	A_HEARTBEAT = 0, A_ACK = 1, A_NACK = 2, A_CONNECTED = 4,
	A_DISCONNECT = 5, A_DISCONNECTED = 6, A_CLOSE = 7, A_CLOSED = 8,
	A_ERROR = 9, A_ATTACH = 10, A_ATTACHED = 11, A_DETACH = 12,
	A_DETACHED = 13, A_PRESENCE = 14, A_MESSAGE = 15, A_AUTH = 17
};
#define F_HAS_BACKLOG	(1 << 1)
#define F_RESUMED	(1 << 2)
#define MODE_MASK	0x3ff0000	/* bits 16..25: channel modes */
#define MODES_DEFAULT	0xf0000		/* presence, publish, subscribe, presence_subscribe */

#define MAX_BODY	(4 << 20)	/* largest REST body or client frame */
#define MAX_WAIT_MS	60000

/* Settings: options and scenario file. */
static struct {
	long long idle;		/* maxIdleInterval, ms */
	long long ttl;		/* connectionStateTtl, ms */
	long long replay;	/* how far back a resumed attach replays, ms */
	long long retention;	/* history retention, ms; 0 = persist */
	int verbose;
} cf = { 15000, 120000, 120000, 0, 0 };

/* Switches set through POST /_sim/fault; "clear" resets them all. */
static struct {
	int refuse;		/* handshakes left to refuse; -1 all */
	int refuse_status;	/* HTTP status, 0 = hang up */
	int fail_resume;	/* resumes left to fail; -1 all */
	int fail_resume_code;
	int delay_connected;	/* CONNECTEDs left to delay */
	long long delay_connected_ms;
	int delay_attached;
	long long delay_attached_ms;
	int hist_fail;		/* history requests left to fail; -1 all */
	int hist_bad;		/* history requests left to answer garbage */
	int hist_status, hist_code;
	long long hist_before;	/* history holds nothing older (ms) */
	int fs_fail;		/* from_serial requests left to reject */
	int fs_status, fs_code;
	int frag;		/* fragment frames into pieces of this size */
	int omit;		/* leave derivable fields out of messages */
	int require_tls;	/* 40103 for key auth (we never have TLS) */
	int fresh_resume;	/* RESUMED attach on a fresh connection too */
} fx;

struct key {
	char *key;		/* "appId.keyId:secret", or a token */
	char **pats;		/* channel patterns it may use; none = all */
	int npats;
};
static struct key *keys;
static int nkeys;

/* One publish: one ProtocolMessage, one position in its channel. */
struct pub {
	long long seq, ts;
	char *pmid, *conn;
	jv msgs;		/* complete wire messages */
};

struct chan {
	char *name;
	char epoch[9];		/* random per channel: serials of another run never match */
	struct pub *pubs;	/* pubs[i].seq == i + 1 */
	long long npubs, cap;
	long long floor;	/* no resume from a serial older than this */
	int lose;		/* next publishes not delivered live */
	struct chan *next;
};
static struct chan *chans;

struct conn {
	char id[11];
	char secret[9];		/* the stable part of its connection keys */
	unsigned keyseq;
	char key[40];
	long long dropped;	/* when its transport went; 0 while one is live */
	int gone;		/* closed, failed or expired: not resumable */
	struct pss *tp;		/* its live transport */
	long long msgserial;	/* publishes it made */
	struct conn *next;
};
static struct conn *conns;

struct frame {
	struct frame *next;
	size_t len;
	int ping;
	int binary;		/* a binary frame (hostile) */
	size_t cut;		/* > 0: send only this much, unfinished (hostile) */
	unsigned char buf[];	/* LWS_PRE + payload */
};

/* A channel as attached on one transport. */
struct att {
	char *name;		/* as the client named it (may carry a qualifier) */
	struct chan *ch;
	int live;		/* deliver new messages */
	struct att *next;
};

/* Per-wsi data: an HTTP transaction or a WebSocket transport. */
struct pss {
	struct lws *wsi;
	int ws;
	/* HTTP */
	int post;
	char *path;
	jv args;		/* query, decoded */
	char *body;
	size_t blen;
	int status;
	char *hdrs;		/* extra header lines "name:\0value\0" pairs */
	size_t hlen;
	char *resp;
	size_t rlen, roff;
	int sent_hdrs, ready;
	char *wait_ev;		/* /_sim/wait */
	long wait_n;
	struct pss *wnext;
	/* WebSocket */
	struct conn *conn;
	int tno;		/* transport number, for the journal */
	int resumed;		/* this transport resumed or recovered */
	int heartbeats;		/* heartbeats=true: HEARTBEAT frames, else pings */
	int proto;		/* v= */
	int echo;
	int silent, closing, close_code;
	long long idle, last_tx, hold_until;
	struct frame *qh, *qt;
	size_t qoff;		/* fragment offset in the head frame */
	char *rx;
	size_t rxlen;
	struct att *atts;
	struct key *k;
	struct pss *next;
};
static struct pss *transports, *waiters;
static char *hist_text;		/* history_malformed's body */
static long long hostile_seq;	/* ids of the hostile MESSAGEs */
static int ntransports;

static struct lws_context *ctx;
static FILE *journal;
static jv events;		/* counters by name */
static volatile sig_atomic_t stop;

/* ---------------------------------------------------------------- utils */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
randstr(char *out, size_t n, const char *alphabet)
{
	unsigned char b[64];
	size_t i, na = strlen(alphabet);

	if (n > sizeof b)
		n = sizeof b;
	if (getrandom(b, n, 0) != (ssize_t)n)
		for (i = 0; i < n; i++)
			b[i] = (unsigned char)rand();
	for (i = 0; i < n; i++)
		out[i] = alphabet[b[i] % na];
	out[n] = '\0';
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static char *
dump(jv v)	/* consumes V; returns a malloc'd compact JSON string */
{
	jv s = jv_dump_string(v, 0);
	char *r = xstrdup(jv_string_value(s));

	jv_free(s);
	return r;
}

static jv
errinfo(int code, int status, const char *msg)
{
	return JV_OBJECT(jv_string("code"), jv_number(code),
	    jv_string("statusCode"), jv_number(status),
	    jv_string("message"), jv_string(msg));
}

/* OBJ.KEY as a long long from a number or a decimal string; DEF if absent,
 * -1 in *bad when present but not an integer. */
static long long
jnum(jv obj, const char *key, long long def, int *bad)
{
	jv v = jvx_get(obj, key);
	long long r = def;
	char *end;

	if (jv_get_kind(v) == JV_KIND_NUMBER)
		r = (long long)jv_number_value(v);
	else if (jv_get_kind(v) == JV_KIND_STRING) {
		errno = 0;
		r = strtoll(jv_string_value(v), &end, 10);
		if (errno || end == jv_string_value(v) || *end != '\0') {
			r = def;
			if (bad)
				*bad = 1;
		}
	} else if (jv_get_kind(v) != JV_KIND_NULL && bad)
		*bad = 1;
	jv_free(v);
	return r;
}

static void
urlenc(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-_.~", c))
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* ------------------------------------------------------ journal, events */

static void
jlog(jv rec)	/* consumes REC: one journal line, "t" first */
{
	char *s;

	if (journal == NULL) {
		jv_free(rec);
		return;
	}
	s = dump(jv_object_merge(JV_OBJECT(jv_string("t"),
	    jv_number(now_ms())), rec));
	fputs(s, journal);
	putc('\n', journal);
	fflush(journal);
	free(s);
}

static void check_waiters(void);

static void
bump(const char *name, const char *ch)
{
	char buf[512];
	jv v;

	v = jvx_get(events, name);
	events = jv_object_set(events, jv_string(name), jv_number(
	    (jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0) + 1));
	jv_free(v);
	if (ch != NULL) {
		snprintf(buf, sizeof buf, "%s:%s", name, ch);
		bump(buf, NULL);
		return;
	}
	check_waiters();
}

/* ----------------------------------------------------------------- keys */

static int
key_wellformed(const char *k)
{
	const char *c = strchr(k, ':'), *d = strchr(k, '.');

	return c != NULL && d != NULL && d < c && c[1] != '\0' && d != k;
}

static void
key_add(const char *line, const char *where)
{
	char *s = xstrdup(line), *tok, *save;
	struct key *k;

	tok = strtok_r(s, " \t\r\n", &save);
	if (tok == NULL || *tok == '#') {
		free(s);
		return;
	}
	keys = xrealloc(keys, (nkeys + 1) * sizeof *keys);
	k = &keys[nkeys++];
	k->key = xstrdup(tok);
	k->pats = NULL;
	k->npats = 0;
	while ((tok = strtok_r(NULL, " \t\r\n,", &save)) != NULL) {
		k->pats = xrealloc(k->pats, (k->npats + 1) * sizeof *k->pats);
		k->pats[k->npats++] = xstrdup(tok);
	}
	(void)where;
	free(s);
}

static void
keys_load_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (f == NULL)
		die(EX_CONFIG, "%s:", path);
	while (getline(&line, &cap, f) != -1)
		key_add(line, path);
	if (ferror(f))
		die(EX_CONFIG, "%s:", path);
	free(line);
	fclose(f);
}

/* The key entry that KEY (a key or a token) names; NULL if none. With no key
 * list at all any well-formed key passes. */
static struct key *
key_find(const char *key, int token)
{
	static struct key any = { "", NULL, 0 };
	int i;

	if (key == NULL)
		return NULL;
	if (nkeys == 0)
		return token || key_wellformed(key) ? &any : NULL;
	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static int
key_allows(const struct key *k, const char *channel)
{
	int i;

	if (k->npats == 0)
		return 1;
	for (i = 0; i < k->npats; i++)
		if (fnmatch(k->pats[i], channel, 0) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------- channels */

static struct chan *
chan_get(const char *name, int create)
{
	struct chan *c;

	for (c = chans; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	if (!create)
		return NULL;
	c = xmalloc(sizeof *c);
	memset(c, 0, sizeof *c);
	c->name = xstrdup(name);
	randstr(c->epoch, 8, ALNUM);
	c->next = chans;
	chans = c;
	return c;
}

static void
chan_serial(const struct chan *c, long long seq, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%010lld", c->epoch, seq);
}

/* The position of channel serial S; -1 when it is not one of C's. */
static long long
chan_parse_serial(const struct chan *c, const char *s)
{
	size_t n = strlen(c->epoch);
	char *end;
	long long v;

	if (s == NULL || strncmp(s, c->epoch, n) != 0 || s[n] != ':' ||
	    !isdigit((unsigned char)s[n + 1]))
		return -1;
	errno = 0;
	v = strtoll(s + n + 1, &end, 10);
	if (errno || *end != '\0' || v > c->npubs)
		return -1;
	return v;
}

static long long
chan_last_ts(const struct chan *c)
{
	return c->npubs ? c->pubs[c->npubs - 1].ts : 0;
}

/* Is there a stored message with id ID? Its serial in *serial. */
static int
chan_has_id(const struct chan *c, const char *id, jv *serial)
{
	long long i;
	int j, n;

	for (i = c->npubs - 1; i >= 0; i--) {
		n = jv_array_length(jv_copy(c->pubs[i].msgs));
		for (j = 0; j < n; j++) {
			jv m = jv_array_get(jv_copy(c->pubs[i].msgs), j);
			const char *mid = jvx_str(m, "id");
			if (mid != NULL && strcmp(mid, id) == 0) {
				*serial = jvx_get(m, "serial");
				jv_free(m);
				return 1;
			}
			jv_free(m);
		}
	}
	return 0;
}

/* ----------------------------------------------------------- transports */

static const char *
connid(const struct pss *p)
{
	return p->conn ? p->conn->id : "-";
}

static void
arm(struct pss *p)
{
	long long next, now = now_ms(), hb;

	if (p->closing)
		return;
	hb = p->idle * 9 / 10;
	if (hb < 1)
		hb = 1;
	next = p->idle > 0 ? p->last_tx + hb : LLONG_MAX;
	if (p->hold_until && p->hold_until < next)
		next = p->hold_until;
	if (next == LLONG_MAX) {	/* maxIdleInterval 0: no promise */
		lws_set_timer_usecs(p->wsi, LWS_SET_TIMER_USEC_CANCEL);
		return;
	}
	if (next <= now)
		next = now + 1;
	lws_set_timer_usecs(p->wsi, (lws_usec_t)(next - now) * 1000);
}

static struct frame *
enqueue(struct pss *p, const char *s, size_t n, int ping)
{
	struct frame *f = xmalloc(sizeof *f + LWS_PRE + n + 1);

	f->next = NULL;
	f->len = n;
	f->ping = ping;
	f->binary = 0;
	f->cut = 0;
	memcpy(f->buf + LWS_PRE, s, n);
	if (p->qt)
		p->qt->next = f;
	else
		p->qh = f;
	p->qt = f;
	p->last_tx = now_ms();
	lws_callback_on_writable(p->wsi);
	arm(p);
	return f;
}

/* Send protocol message MSG (consumed) on transport P, unless P is silent
 * or closing. */
static void
ws_send(struct pss *p, jv msg)
{
	char *s;

	if (p->silent || p->closing) {
		jv_free(msg);
		return;
	}
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("dir"), jv_string("out"),
		    jv_string("conn"), jv_string(connid(p)),
		    jv_string("transport"), jv_number(p->tno),
		    jv_string("msg"), jv_copy(msg)));
	s = dump(msg);
	enqueue(p, s, strlen(s), 0);
	free(s);
}

/* Send N bytes of S as one text frame, JSON or not (the hostile faults),
 * unless P is silent or closing; journaled as the FAULT and the size. The
 * frame, to make it binary or cut, or NULL. */
static struct frame *
ws_send_raw(struct pss *p, const char *fault, const char *s, size_t n)
{
	if (p->silent || p->closing)
		return NULL;
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("dir"), jv_string("out"),
		    jv_string("conn"), jv_string(connid(p)),
		    jv_string("transport"), jv_number(p->tno),
		    jv_string("fault"), jv_string(fault),
		    jv_string("bytes"), jv_number((double)n)));
	return enqueue(p, s, n, 0);
}

/* The JSON of object MSG (consumed) with a "pad" string field that makes it
 * exactly N bytes long (malloc'd); NULL when N is too short for that. */
static char *
padded(jv msg, size_t n)
{
	static const char pad[] = "\"pad\":\"";
	char *s = dump(msg), *b;
	size_t k = strlen(s), sep = k > 2, head = k - 1 + sep + sizeof pad - 1;

	if (n < head + 2) {
		free(s);
		return NULL;
	}
	b = xmalloc(n + 1);
	memcpy(b, s, k - 1);
	if (sep)
		b[k - 1] = ',';
	memcpy(b + k - 1 + sep, pad, sizeof pad - 1);
	memset(b + head, 'x', n - head - 2);
	memcpy(b + n - 2, "\"}", 2);
	b[n] = '\0';
	free(s);
	return b;
}

static void
queue_free(struct pss *p)
{
	struct frame *f;

	while ((f = p->qh) != NULL) {
		p->qh = f->next;
		free(f);
	}
	p->qt = NULL;
	p->qoff = 0;
}

/* Close P: MODE 1 drops the TCP connection, 2 sends a close frame with
 * CODE after the queued frames. */
static void
ws_close(struct pss *p, int mode, int code)
{
	if (p->closing)
		return;
	if (mode == 1)
		queue_free(p);
	p->closing = mode;
	p->close_code = code;
	p->hold_until = 0;
	lws_set_timer_usecs(p->wsi, LWS_SET_TIMER_USEC_CANCEL);
	lws_callback_on_writable(p->wsi);
}

static void
ws_error(struct pss *p, const char *channel, int code, int status,
    const char *msg)
{
	jv m = JV_OBJECT(jv_string("action"), jv_number(A_ERROR),
	    jv_string("error"), errinfo(code, status, msg));

	if (channel)
		m = jv_object_set(m, jv_string("channel"), jv_string(channel));
	ws_send(p, m);
}

static struct att *
att_find(struct pss *p, const char *name)
{
	struct att *a;

	for (a = p->atts; a != NULL; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static void
att_remove(struct pss *p, const char *name)
{
	struct att **ap, *a;

	for (ap = &p->atts; (a = *ap) != NULL; ap = &a->next)
		if (strcmp(a->name, name) == 0) {
			*ap = a->next;
			free(a->name);
			free(a);
			return;
		}
}

/* The wire form of stored message M (not consumed) at INDEX of PUB for a
 * client speaking protocol version PROTO; EXPLICIT keeps the id even when
 * the parent's would give it. */
static jv
wire_msg(jv m, const struct pub *pub, int index, int proto, int explicit)
{
	jv w = jv_copy(m);
	char buf[256];
	const char *id;

	if (proto < 4) {
		w = jv_object_delete(w, jv_string("serial"));
		w = jv_object_delete(w, jv_string("action"));
	}
	if (fx.omit) {
		snprintf(buf, sizeof buf, "%s:%d", pub->pmid, index);
		id = jvx_str(m, "id");
		if (!explicit && id != NULL && strcmp(id, buf) == 0)
			w = jv_object_delete(w, jv_string("id"));
		w = jv_object_delete(w, jv_string("connectionId"));
		w = jv_object_delete(w, jv_string("timestamp"));
	}
	return w;
}

/* Send messages FROM.. of PUB on attachment A of transport P. */
static void
send_pub(struct pss *p, struct att *a, const struct pub *pub, int from)
{
	char serial[64];
	jv msgs = jv_array(), m;
	int i, n = jv_array_length(jv_copy(pub->msgs));

	for (i = from; i < n; i++) {
		m = jv_array_get(jv_copy(pub->msgs), i);
		msgs = jv_array_append(msgs, wire_msg(m, pub, i, p->proto,
		    from > 0));
		jv_free(m);
	}
	chan_serial(a->ch, pub->seq, serial, sizeof serial);
	ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_MESSAGE),
	    jv_string("id"), jv_string(pub->pmid),
	    jv_string("connectionId"), jv_string(pub->conn),
	    jv_string("channel"), jv_string(a->name),
	    jv_string("channelSerial"), jv_string(serial),
	    jv_string("timestamp"), jv_number(pub->ts),
	    jv_string("messages"), msgs));
	bump("delivered", a->ch->name);
}

/* Fan PUB out to every live transport attached to C. */
static void
deliver(struct chan *c, const struct pub *pub, const struct conn *from)
{
	struct pss *p;
	struct att *a;

	if (c->lose > 0) {
		c->lose--;
		return;
	}
	for (p = transports; p != NULL; p = p->next) {
		if (p->closing || p->silent)
			continue;
		if (!p->echo && from != NULL && p->conn == from)
			continue;
		for (a = p->atts; a != NULL; a = a->next)
			if (a->ch == c && a->live)
				send_pub(p, a, pub, 0);
	}
}

/* M (consumed) with only the fields a publisher may set. */
static jv
keep_fields(jv m)
{
	static const char *const keep[] = { "id", "name", "data", "encoding",
	    "clientId", "extras" };
	jv out = jv_object(), v;
	size_t i;

	for (i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		v = jvx_get(m, keep[i]);
		if (jv_get_kind(v) != JV_KIND_NULL)
			out = jv_object_set(out, jv_string(keep[i]), v);
		else
			jv_free(v);
	}
	jv_free(m);
	return out;
}

/* Store MSGS (array, consumed) as one publish on C by connection PUBCONN
 * with ProtocolMessage id PMID. *SERIALS gets a serial per message. NULL
 * and *ERR set when a message is invalid; duplicates by id are skipped. */
static struct pub *
publish(struct chan *c, jv msgs, const char *pubconn, const char *pmid,
    const struct conn *from, long long at, jv *serials, jv *err)
{
	jv out = jv_array(), m, data, dup;
	struct pub *pub;
	char buf[300], serial[320];
	long long ts = at ? at : now_ms();
	int i, n, kept = 0;
	jv_kind kind;
	const char *enc;

	*serials = jv_array();
	*err = jv_null();
	if (jv_get_kind(msgs) == JV_KIND_OBJECT)
		msgs = JV_ARRAY(msgs);
	if (jv_get_kind(msgs) != JV_KIND_ARRAY || jv_array_length(jv_copy(msgs)) == 0) {
		jv_free(msgs);
		jv_free(out);
		*err = errinfo(40000, 400, "expected a message or an array of messages");
		return NULL;
	}
	if (at == 0 && ts < chan_last_ts(c))
		ts = chan_last_ts(c);
	n = jv_array_length(jv_copy(msgs));
	for (i = 0; i < n; i++) {
		m = jv_array_get(jv_copy(msgs), i);
		data = jvx_get(m, "name");
		kind = jv_get_kind(data);
		jv_free(data);
		if (jv_get_kind(m) != JV_KIND_OBJECT || (kind != JV_KIND_NULL &&
		    kind != JV_KIND_STRING)) {
			jv_free(m);
			goto bad;
		}
		m = keep_fields(m);
		data = jvx_get(m, "data");
		enc = jvx_str(m, "encoding");
		switch (jv_get_kind(data)) {
		case JV_KIND_OBJECT:
		case JV_KIND_ARRAY:
			snprintf(buf, sizeof buf, "%s%sjson", enc ? enc : "",
			    enc ? "/" : "");
			m = jv_object_set(m, jv_string("encoding"), jv_string(buf));
			m = jv_object_set(m, jv_string("data"), jv_dump_string(data, 0));
			break;
		case JV_KIND_STRING:
		case JV_KIND_NULL:
			jv_free(data);
			break;
		default:
			jv_free(data);
			jv_free(m);
			goto bad;
		}
		if (jvx_str(m, "id") == NULL) {
			snprintf(buf, sizeof buf, "%s:%d", pmid, i);
			m = jv_object_set(m, jv_string("id"), jv_string(buf));
		} else if (chan_has_id(c, jvx_str(m, "id"), &dup)) {
			*serials = jv_array_append(*serials, dup);
			jv_free(m);
			continue;
		}
		snprintf(serial, sizeof serial, "%s:%010lld:%d", c->epoch,
		    c->npubs + 1, kept);
		m = jv_object_set(m, jv_string("connectionId"), jv_string(pubconn));
		m = jv_object_set(m, jv_string("timestamp"), jv_number(ts));
		m = jv_object_set(m, jv_string("serial"), jv_string(serial));
		m = jv_object_set(m, jv_string("action"), jv_number(0));
		*serials = jv_array_append(*serials, jv_string(serial));
		out = jv_array_append(out, m);
		kept++;
	}
	jv_free(msgs);
	if (kept == 0) {
		jv_free(out);
		return NULL;
	}
	if (c->npubs == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->pubs = xrealloc(c->pubs, c->cap * sizeof *c->pubs);
	}
	pub = &c->pubs[c->npubs++];
	pub->seq = c->npubs;
	pub->ts = ts;
	pub->pmid = xstrdup(pmid);
	pub->conn = xstrdup(pubconn);
	pub->msgs = out;
	bump("publish", c->name);
	deliver(c, pub, from);
	return pub;
bad:
	jv_free(msgs);
	jv_free(out);
	jv_free(*serials);
	*serials = jv_array();
	*err = errinfo(40013, 400, "invalid message: name must be a string, "
	    "data a string, object or array");
	return NULL;
}

/* ------------------------------------------------------- the connection */

static struct conn *
conn_new(void)
{
	struct conn *c = xmalloc(sizeof *c);

	memset(c, 0, sizeof *c);
	randstr(c->id, 10, ALNUM);
	randstr(c->secret, 8, "0123456789abcdef");
	c->next = conns;
	conns = c;
	return c;
}

static void
conn_newkey(struct conn *c)
{
	snprintf(c->key, sizeof c->key, "%s!%s-%x", c->secret, c->id,
	    ++c->keyseq);
}

/* The connection that connection key K names: 0 and *out, or an Ably error
 * code: 80018 malformed, 80008 unknown or expired. */
static int
conn_lookup(const char *k, struct conn **out)
{
	const char *bang = strchr(k, '!'), *dash = strrchr(k, '-');
	struct conn *c;
	size_t n;

	if (bang == NULL || dash == NULL || dash < bang || bang - k != 8)
		return 80018;
	n = (size_t)(dash - bang - 1);
	for (c = conns; c != NULL; c = c->next) {
		if (strlen(c->id) != n || strncmp(c->id, bang + 1, n) != 0 ||
		    strncmp(c->secret, k, 8) != 0)
			continue;
		if (c->gone || (c->tp == NULL && now_ms() - c->dropped > cf.ttl))
			return 80008;
		*out = c;
		return 0;
	}
	return 80008;
}

/* CONNECTED on P; NEWKEY: a new connection key (every new transport). */
static void
send_connected(struct pss *p, jv error, int newkey)
{
	struct conn *c = p->conn;
	jv d, m;

	if (newkey || c->key[0] == '\0')
		conn_newkey(c);
	d = JV_OBJECT(jv_string("connectionKey"), jv_string(c->key),
	    jv_string("maxIdleInterval"), jv_number(p->idle),
	    jv_string("connectionStateTtl"), jv_number(cf.ttl),
	    jv_string("maxMessageSize"), jv_number(65536),
	    jv_string("maxFrameSize"), jv_number(524288),
	    jv_string("maxInboundRate"), jv_number(250),
	    jv_string("serverId"), jv_string("ably-sim"));
	m = JV_OBJECT(jv_string("action"), jv_number(A_CONNECTED),
	    jv_string("connectionId"), jv_string(c->id),
	    jv_string("connectionKey"), jv_string(c->key),
	    jv_string("connectionDetails"), d);
	if (jv_get_kind(error) == JV_KIND_OBJECT)
		m = jv_object_set(m, jv_string("error"), error);
	else
		jv_free(error);
	ws_send(p, m);
}

/* Reject the handshake at protocol level: ERROR, then close. */
static void
reject(struct pss *p, int code, int status, const char *msg)
{
	if (cf.verbose)
		warnx("transport %d: refused: %d %s", p->tno, code, msg);
	ws_error(p, NULL, code, status, msg);
	ws_close(p, 2, LWS_CLOSE_STATUS_POLICY_VIOLATION);
	bump("rejected", NULL);
}

static jv
query_args(struct lws *wsi)
{
	char buf[4096], *eq;
	jv a = jv_object();
	int i;

	for (i = 0; lws_hdr_copy_fragment(wsi, buf, sizeof buf,
	    WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
		eq = strchr(buf, '=');
		if (eq == NULL)
			a = jv_object_set(a, jv_string(buf), jv_string(""));
		else {
			*eq = '\0';
			a = jv_object_set(a, jv_string(buf), jv_string(eq + 1));
		}
	}
	return a;
}

static jv
redact(jv args)	/* consumes ARGS */
{
	args = jv_object_delete(args, jv_string("key"));
	args = jv_object_delete(args, jv_string("access_token"));
	return jv_object_delete(args, jv_string("accessToken"));
}

static void
ws_open(struct pss *p, struct lws *wsi)
{
	static int tno;
	jv args = query_args(wsi), error = jv_null();
	const char *s, *key, *tok, *rk;
	long long hbi;
	int bad = 0, code;
	struct conn *c = NULL;

	memset(p, 0, sizeof *p);
	p->wsi = wsi;
	p->ws = 1;
	p->tno = ++tno;
	p->idle = cf.idle;
	p->last_tx = now_ms();
	p->echo = 1;
	p->args = jv_null();
	p->next = transports;
	transports = p;
	ntransports++;
	bump("open", NULL);
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("event"), jv_string("open"),
		    jv_string("transport"), jv_number(p->tno),
		    jv_string("auth"), jv_string(jvx_str(args, "key") ? "key" :
		    jvx_str(args, "access_token") || jvx_str(args, "accessToken") ?
		    "token" : "none"),
		    jv_string("query"), redact(jv_copy(args))));

	s = jvx_str(args, "v");
	if (s == NULL)
		p->proto = 6;
	else if (s[0] == '1' && (s[1] == '\0' || s[1] == '.')) {
		reject(p, 80024, 400, "protocol version 1 is no longer supported");
		goto out;
	} else if ((p->proto = atoi(s)) < 2 || p->proto > 6) {
		reject(p, 40017, 400, "unsupported protocol version");
		goto out;
	}
	s = jvx_str(args, "format");
	if (s != NULL && strcmp(s, "json") != 0) {
		reject(p, 40000, 400, "ably-sim speaks format=json only");
		goto out;
	}
	key = jvx_str(args, "key");
	tok = jvx_str(args, "access_token");
	if (tok == NULL)
		tok = jvx_str(args, "accessToken");
	if (key == NULL && tok == NULL) {
		reject(p, 40101, 401, "no credentials: key or access_token required");
		goto out;
	}
	if (key != NULL && fx.require_tls) {
		reject(p, 40103, 401, "Invalid use of Basic authentication over "
		    "non-TLS transport");
		goto out;
	}
	if ((p->k = key != NULL ? key_find(key, 0) : key_find(tok, 1)) == NULL) {
		reject(p, 40101, 401, "Invalid credentials");
		goto out;
	}
	s = jvx_str(args, "heartbeats");
	p->heartbeats = s != NULL && strcmp(s, "true") == 0;
	s = jvx_str(args, "echo");
	p->echo = !(s != NULL && strcmp(s, "false") == 0);
	hbi = jnum(args, "heartbeatInterval", 0, &bad);
	if (hbi > 0 && !bad)
		p->idle = hbi < 50 ? 50 : hbi > 1800000 ? 1800000 : hbi;

	rk = jvx_str(args, "resume");
	if (rk == NULL)
		rk = jvx_str(args, "recover");
	if (rk != NULL) {
		code = conn_lookup(rk, &c);
		if (code == 0 && fx.fail_resume != 0) {
			if (fx.fail_resume > 0)
				fx.fail_resume--;
			c->gone = 1;
			code = fx.fail_resume_code ? fx.fail_resume_code : 80008;
			c = NULL;
		}
		if (code != 0)
			error = errinfo(code, 400, code == 80018 ?
			    "Invalid connection key" : "Unable to recover connection");
	}
	if (c != NULL) {
		if (c->tp != NULL) {	/* superseded: drop the old transport */
			c->tp->conn = NULL;
			ws_close(c->tp, 1, 0);
		}
		p->resumed = 1;
		bump("resumed", NULL);
	} else {
		c = conn_new();
		if (rk != NULL)
			bump("resume_failed", NULL);
	}
	c->tp = p;
	c->dropped = 0;
	p->conn = c;
	if (cf.verbose)
		warnx("transport %d: connection %s%s", p->tno, c->id,
		    p->resumed ? " resumed" : rk ? " (resume failed)" : "");
	if (fx.delay_connected != 0) {
		if (fx.delay_connected > 0)
			fx.delay_connected--;
		p->hold_until = now_ms() + fx.delay_connected_ms;
	}
	send_connected(p, error, 1);
	error = jv_null();
	bump("connected", NULL);
out:
	jv_free(error);
	jv_free(args);
}

static void
ws_closed(struct pss *p)
{
	struct pss **pp;
	struct att *a;

	for (pp = &transports; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			ntransports--;
			break;
		}
	if (p->conn != NULL && p->conn->tp == p) {
		p->conn->tp = NULL;
		p->conn->dropped = now_ms();
	}
	queue_free(p);
	while ((a = p->atts) != NULL) {
		p->atts = a->next;
		free(a->name);
		free(a);
	}
	free(p->rx);
	p->rx = NULL;
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("event"), jv_string("close"),
		    jv_string("conn"), jv_string(connid(p)),
		    jv_string("transport"), jv_number(p->tno)));
	if (cf.verbose)
		warnx("transport %d: closed", p->tno);
	p->conn = NULL;
	bump("closed", NULL);
}

/* The channel params of a "[?a=b&c=d]name" qualifier, merged into PARAMS. */
static const char *
unqualify(const char *name, jv *params)
{
	const char *end, *s;
	char kv[256], *eq;
	size_t n;

	if (name[0] != '[' || (end = strchr(name, ']')) == NULL)
		return name;
	s = name + 1;
	if (*s == '?')
		s++;
	while (s < end) {
		n = strcspn(s, "&]");
		if (n > 0 && n < sizeof kv) {
			memcpy(kv, s, n);
			kv[n] = '\0';
			if ((eq = strchr(kv, '=')) != NULL) {
				*eq = '\0';
				*params = jv_object_set(*params, jv_string(kv),
				    jv_string(eq + 1));
			}
		}
		s += n + (s[n] == '&');
	}
	return end + 1;
}

/* How many of C's newest messages a rewind value asks for: "N" messages or
 * an interval "Ns", "Nm", "Nh" (returned negative, in ms). */
static long long
rewind_value(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return 0;
	switch (*end) {
	case '\0':
		return v > 100 ? 100 : v;
	case 's':
		return -v * 1000;
	case 'm':
		return -v * 60000;
	case 'h':
		return -v * 3600000;
	}
	return 0;
}

static void
on_attach(struct pss *p, jv msg)
{
	const char *name = jvx_str(msg, "channel"), *base, *serial, *rw;
	jv params = jvx_get(msg, "params"), reply;
	struct chan *c;
	struct att *a;
	long long s, i, head, want, flags;
	char hs[64];
	int resumed = 0, reason = 0, n, first;

	if (name == NULL || *name == '\0') {
		jv_free(params);
		ws_error(p, NULL, 40010, 400, "ATTACH without a channel");
		return;
	}
	if (jv_get_kind(params) != JV_KIND_OBJECT) {
		jv_free(params);
		params = jv_object();
	}
	base = unqualify(name, &params);
	if (!key_allows(p->k, base)) {
		jv_free(params);
		att_remove(p, name);
		ws_error(p, name, 40160, 401, "Channel denied access based on "
		    "given capability");
		bump("denied", base);
		return;
	}
	c = chan_get(base, 1);
	head = c->npubs;
	flags = (long long)jnum(msg, "flags", 0, NULL) & MODE_MASK;
	if (flags == 0)
		flags = MODES_DEFAULT;
	serial = jvx_str(msg, "channelSerial");
	s = chan_parse_serial(c, serial);
	if (serial != NULL) {
		if (s < 0 || s < c->floor)
			reason = 90003;
		else if (s < head && c->pubs[s].ts < now_ms() - cf.replay)
			reason = 90003;
		else if (!p->resumed && !fx.fresh_resume)
			reason = 90003;
		else
			resumed = 1;
	}
	if ((a = att_find(p, name)) == NULL) {
		a = xmalloc(sizeof *a);
		a->name = xstrdup(name);
		a->next = p->atts;
		p->atts = a;
	}
	a->ch = c;
	a->live = 1;
	want = 0;
	rw = jvx_str(params, "rewind");
	if (!resumed && rw != NULL)
		want = rewind_value(rw);
	if (resumed && s < head)
		flags |= F_RESUMED | F_HAS_BACKLOG;
	else if (resumed)
		flags |= F_RESUMED;
	else if (want != 0 && head > 0)
		flags |= F_HAS_BACKLOG;
	chan_serial(c, head, hs, sizeof hs);
	reply = JV_OBJECT(jv_string("action"), jv_number(A_ATTACHED),
	    jv_string("channel"), jv_string(name),
	    jv_string("channelSerial"), jv_string(hs),
	    jv_string("flags"), jv_number(flags));
	if (jv_object_length(jv_copy(params)) > 0)
		reply = jv_object_set(reply, jv_string("params"), jv_copy(params));
	if (reason)
		reply = jv_object_set(reply, jv_string("error"), errinfo(reason,
		    400, "Channel continuity not guaranteed: resume from the "
		    "given channelSerial not possible"));
	if (fx.delay_attached != 0) {
		if (fx.delay_attached > 0)
			fx.delay_attached--;
		p->hold_until = now_ms() + fx.delay_attached_ms;
		arm(p);
	}
	ws_send(p, reply);
	bump(resumed ? "attached_resumed" : "attached_fresh", base);
	bump("attached", base);
	if (resumed) {
		for (i = s; i < head; i++)
			send_pub(p, a, &c->pubs[i], 0);
	} else if (want > 0) {		/* the last WANT messages */
		for (i = head - 1, n = 0; i >= 0 && n < want; i--)
			n += jv_array_length(jv_copy(c->pubs[i].msgs));
		for (i = i + 1; i < head; i++) {
			first = n > want ? (int)(n - want) : 0;
			send_pub(p, a, &c->pubs[i], first);
			n = want = 0;
		}
	} else if (want < 0) {		/* an interval */
		for (i = 0; i < head; i++)
			if (c->pubs[i].ts >= now_ms() + want)
				send_pub(p, a, &c->pubs[i], 0);
	}
	jv_free(params);
}

static void
on_message(struct pss *p, jv msg)
{
	const char *name = jvx_str(msg, "channel"), *base;
	jv params = jv_object(), serials, err, msgs;
	char pmid[64];
	long long ms = jnum(msg, "msgSerial", 0, NULL);
	struct chan *c;

	base = name ? unqualify(name, &params) : NULL;
	jv_free(params);
	if (base == NULL || !key_allows(p->k, base)) {
		ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_NACK),
		    jv_string("msgSerial"), jv_number(ms),
		    jv_string("count"), jv_number(1),
		    jv_string("error"), errinfo(40160, 401, "publish denied")));
		return;
	}
	c = chan_get(base, 1);
	snprintf(pmid, sizeof pmid, "%s:%lld", p->conn->id, ms);
	msgs = jvx_get(msg, "messages");
	publish(c, msgs, p->conn->id, pmid, p->conn, 0, &serials, &err);
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		jv_free(serials);
		ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_NACK),
		    jv_string("msgSerial"), jv_number(ms),
		    jv_string("count"), jv_number(1), jv_string("error"), err));
		return;
	}
	jv_free(err);
	ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_ACK),
	    jv_string("msgSerial"), jv_number(ms), jv_string("count"),
	    jv_number(1), jv_string("res"), JV_ARRAY(JV_OBJECT(
	    jv_string("serials"), serials))));
}

static void
ws_frame(struct pss *p, const char *buf, size_t len)
{
	jv msg = jvx_parse(buf, (int)len), id;
	const char *ch;
	int action;

	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("dir"), jv_string("in"),
		    jv_string("conn"), jv_string(connid(p)),
		    jv_string("transport"), jv_number(p->tno),
		    jv_string("msg"), jv_is_valid(msg) ? jv_copy(msg) :
		    jv_string("(not JSON)")));
	if (p->conn == NULL || p->closing) {
		jv_free(msg);
		return;
	}
	if (jv_get_kind(msg) != JV_KIND_OBJECT) {
		jv_free(msg);
		ws_error(p, NULL, 40000, 400, "invalid protocol message");
		ws_close(p, 2, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
		return;
	}
	action = (int)jnum(msg, "action", -1, NULL);
	ch = jvx_str(msg, "channel");
	switch (action) {
	case A_HEARTBEAT:
		id = jvx_get(msg, "id");
		if (jv_get_kind(id) == JV_KIND_STRING)
			ws_send(p, JV_OBJECT(jv_string("action"),
			    jv_number(A_HEARTBEAT), jv_string("id"), id));
		else
			jv_free(id);
		break;
	case A_CLOSE:
		ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_CLOSED)));
		p->conn->gone = 1;
		ws_close(p, 2, LWS_CLOSE_STATUS_NORMAL);
		bump("close", NULL);
		break;
	case A_ATTACH:
		on_attach(p, msg);
		break;
	case A_DETACH:
		if (ch != NULL) {
			att_remove(p, ch);
			ws_send(p, JV_OBJECT(jv_string("action"),
			    jv_number(A_DETACHED), jv_string("channel"),
			    jv_string(ch)));
			bump("detached", ch);
		}
		break;
	case A_MESSAGE:
		on_message(p, msg);
		break;
	case A_PRESENCE:
		ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_ACK),
		    jv_string("msgSerial"), jv_number(jnum(msg, "msgSerial", 0,
		    NULL)), jv_string("count"), jv_number(1)));
		break;
	default:	/* DISCONNECT, AUTH and the rest: ignored */
		break;
	}
	jv_free(msg);
}

static int
ws_writeable(struct pss *p)
{
	struct frame *f;
	size_t n;
	int flags, first, last;

	if (p->closing == 1)
		return -1;
	if (p->hold_until && now_ms() < p->hold_until)
		return 0;
	p->hold_until = 0;
	if ((f = p->qh) == NULL) {
		if (p->closing == 2) {
			lws_close_reason(p->wsi, p->close_code, NULL, 0);
			return -1;
		}
		return 0;
	}
	if (f->ping) {
		lws_write(p->wsi, f->buf + LWS_PRE, 0, LWS_WRITE_PING);
		n = f->len;
		first = last = 1;
	} else if (f->cut > 0) {	/* the start of a frame, then silence */
		n = f->cut < f->len ? f->cut : f->len;
		flags = lws_write_ws_flags(LWS_WRITE_TEXT, 1, 0);
		if (lws_write(p->wsi, f->buf + LWS_PRE, n,
		    (enum lws_write_protocol)flags) < (int)n)
			return -1;
		queue_free(p);
		return 0;
	} else {
		n = f->len - p->qoff;
		if (fx.frag > 0 && n > (size_t)fx.frag)
			n = (size_t)fx.frag;
		first = p->qoff == 0;
		last = p->qoff + n == f->len;
		flags = lws_write_ws_flags(f->binary ? LWS_WRITE_BINARY :
		    LWS_WRITE_TEXT, first, last);
		if (lws_write(p->wsi, f->buf + LWS_PRE + p->qoff, n,
		    (enum lws_write_protocol)flags) < (int)n)
			return -1;
	}
	p->qoff += n;
	if (last) {
		p->qh = f->next;
		if (p->qh == NULL)
			p->qt = NULL;
		p->qoff = 0;
		free(f);
	}
	if (p->qh != NULL || p->closing)
		lws_callback_on_writable(p->wsi);
	return 0;
}

static void
ws_timer(struct pss *p)
{
	long long now = now_ms();

	if (p->closing)
		return;
	if (p->hold_until && now >= p->hold_until)
		lws_callback_on_writable(p->wsi);
	if (!p->silent && p->conn != NULL && p->idle > 0 &&
	    now - p->last_tx >= p->idle * 9 / 10) {
		if (p->heartbeats)
			ws_send(p, JV_OBJECT(jv_string("action"),
			    jv_number(A_HEARTBEAT)));
		else
			enqueue(p, "", 0, 1);
	}
	arm(p);
}

/* ----------------------------------------------------------------- HTTP */

static void
http_reset(struct pss *p)
{
	free(p->path);
	free(p->body);
	free(p->hdrs);
	free(p->resp);
	free(p->wait_ev);
	if (!p->ws)
		jv_free(p->args);
	p->path = p->body = p->hdrs = p->resp = p->wait_ev = NULL;
	p->args = jv_null();
	p->blen = p->hlen = p->rlen = p->roff = 0;
	p->sent_hdrs = p->ready = p->post = p->status = 0;
}

static void
waiter_remove(struct pss *p)
{
	struct pss **pp;

	for (pp = &waiters; *pp != NULL; pp = &(*pp)->wnext)
		if (*pp == p) {
			*pp = p->wnext;
			break;
		}
	p->wnext = NULL;
}

static void
add_header(struct pss *p, const char *name, const char *value)
{
	size_t a = strlen(name) + 1, b = strlen(value) + 1;

	p->hdrs = xrealloc(p->hdrs, p->hlen + a + b);
	memcpy(p->hdrs + p->hlen, name, a);
	memcpy(p->hdrs + p->hlen + a, value, b);
	p->hlen += a + b;
}

/* Answer with STATUS and the text BODY (JSON or not). */
static void
respond_text(struct pss *p, int status, const char *body)
{
	p->status = status;
	p->resp = xstrdup(body);
	p->rlen = strlen(p->resp);
	p->ready = 1;
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("http"), jv_string(p->post ? "POST" :
		    "GET"), jv_string("path"), jv_string(p->path ? p->path : ""),
		    jv_string("query"), redact(jv_copy(p->args)),
		    jv_string("status"), jv_number(status)));
	lws_callback_on_writable(p->wsi);
}

/* Answer with STATUS and BODY (consumed, any JSON value). */
static void
respond(struct pss *p, int status, jv body)
{
	char *s = dump(body);

	respond_text(p, status, s);
	free(s);
}

static void
respond_error(struct pss *p, int code, int status, const char *msg)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%d", code);
	add_header(p, "x-ably-errorcode:", buf);
	add_header(p, "x-ably-errormessage:", msg);
	respond(p, status, JV_OBJECT(jv_string("error"),
	    errinfo(code, status, msg)));
}

static int
http_writeable(struct pss *p)
{
	unsigned char hb[LWS_PRE + 4096], *start = hb + LWS_PRE, *q = start,
	    *end = hb + sizeof hb - 1;
	size_t i, n;
	const char *name, *val;

	if (!p->ready)
		return 0;
	if (!p->sent_hdrs) {
		if (lws_add_http_common_headers(p->wsi, (unsigned)p->status,
		    "application/json", p->rlen, &q, end))
			return -1;
		for (i = 0; i < p->hlen; i += strlen(name) + strlen(val) + 2) {
			name = p->hdrs + i;
			val = name + strlen(name) + 1;
			if (lws_add_http_header_by_name(p->wsi,
			    (const unsigned char *)name,
			    (const unsigned char *)val, (int)strlen(val), &q, end))
				return -1;
		}
		if (lws_finalize_write_http_header(p->wsi, start, &q, end))
			return -1;
		p->sent_hdrs = 1;
		if (p->rlen == 0)
			goto done;
		lws_callback_on_writable(p->wsi);
		return 0;
	}
	n = p->rlen - p->roff;
	if (n > 16384)
		n = 16384;
	{
		unsigned char *b = xmalloc(LWS_PRE + n);
		int r;

		memcpy(b + LWS_PRE, p->resp + p->roff, n);
		r = lws_write(p->wsi, b + LWS_PRE, n, p->roff + n == p->rlen ?
		    LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
		free(b);
		if (r < (int)n)
			return -1;
	}
	p->roff += n;
	if (p->roff < p->rlen) {
		lws_callback_on_writable(p->wsi);
		return 0;
	}
done:
	http_reset(p);
	if (lws_http_transaction_completed(p->wsi))
		return -1;
	return 0;
}

/* Basic or Bearer credentials of the request, or ?key=. */
static struct key *
http_auth(struct pss *p, int *present)
{
	char hdr[1024], dec[768];
	const char *k;
	int n;

	*present = 1;
	n = lws_hdr_copy(p->wsi, hdr, sizeof hdr, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n > 6 && strncasecmp(hdr, "Basic ", 6) == 0) {
		n = lws_b64_decode_string(hdr + 6, dec, sizeof dec - 1);
		if (n <= 0)
			return NULL;
		dec[n] = '\0';
		if (fx.require_tls)
			return NULL;
		return key_find(dec, 0);
	}
	if (n > 7 && strncasecmp(hdr, "Bearer ", 7) == 0)
		return key_find(hdr + 7, 1);
	if ((k = jvx_str(p->args, "key")) != NULL)
		return fx.require_tls ? NULL : key_find(k, 0);
	*present = 0;
	return NULL;
}

static int
http_version(struct pss *p)
{
	char v[16];

	if (lws_hdr_custom_copy(p->wsi, v, sizeof v, "x-ably-version:", 15) > 0)
		return atoi(v);
	return 0;
}

static void
rest_time(struct pss *p)
{
	respond(p, 200, JV_ARRAY(jv_number(now_ms())));
}

static void
rest_publish(struct pss *p, const char *channel)
{
	struct chan *c = chan_get(channel, 1);
	jv body = jvx_parse(p->body ? p->body : "", (int)p->blen);
	jv serials, err;
	char conn[11], pmid[32];

	if (!jv_is_valid(body)) {
		jv_free(body);
		respond_error(p, 40000, 400, "request body is not JSON");
		return;
	}
	randstr(conn, 10, ALNUM);
	snprintf(pmid, sizeof pmid, "%s:0", conn);
	publish(c, body, conn, pmid, NULL, 0, &serials, &err);
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		respond_error(p, (int)jnum(err, "code", 40000, NULL), 400,
		    jvx_str(err, "message"));
		jv_free(err);
		jv_free(serials);
		return;
	}
	jv_free(err);
	respond(p, 201, JV_OBJECT(jv_string("channel"), jv_string(channel),
	    jv_string("messageId"), jv_string(pmid),
	    jv_string("serials"), serials));
}

/* One position in a channel: publish SEQ (1-based), message IDX. */
struct pos {
	long long seq;
	int idx;
};

static int
pos_cmp(struct pos a, struct pos b)
{
	if (a.seq != b.seq)
		return a.seq < b.seq ? -1 : 1;
	return a.idx < b.idx ? -1 : a.idx > b.idx;
}

/* "<./messages?QUERY>; rel=\"REL\"" for ARGS (consumed; never the key)
 * with CURSOR, appended to LINK (consumed). */
static jv
link_for(jv link, jv args, const char *cursor, const char *rel)
{
	char k[256], v[1024];
	int first = 1;

	if (jv_string_length_bytes(jv_copy(link)) > 0)
		link = jv_string_append_str(link, ", ");
	link = jv_string_append_str(link, "<./messages?");
	jv_object_foreach(args, key, val) {
		const char *ks = jv_string_value(key);
		if (strcmp(ks, "cursor") != 0 && strcmp(ks, "key") != 0 &&
		    jv_get_kind(val) == JV_KIND_STRING) {
			urlenc(k, sizeof k, ks);
			urlenc(v, sizeof v, jv_string_value(val));
			link = jv_string_append_str(link, first ? "" : "&");
			link = jv_string_append_str(link, k);
			link = jv_string_append_str(link, "=");
			link = jv_string_append_str(link, v);
			first = 0;
		}
		jv_free(key);
		jv_free(val);
	}
	if (cursor != NULL) {
		link = jv_string_append_str(link, first ? "cursor=" : "&cursor=");
		link = jv_string_append_str(link, cursor);
	}
	jv_free(args);
	link = jv_string_append_str(link, ">; rel=\"");
	link = jv_string_append_str(link, rel);
	return jv_string_append_str(link, "\"");
}

static void
rest_history(struct pss *p, const char *channel)
{
	struct chan *c = chan_get(channel, 0);
	int bad = 0, fwd, n, idx, proto = http_version(p);
	long long start, end, limit, fs = -1, lo, i;
	const char *dir, *fss, *cur;
	struct pos after = { -1, 0 }, at, last = { 0, 0 };
	jv items = jv_array(), m, args, link;
	char cbuf[64];
	int count = 0, more = 0;

	bump("history", channel);
	if (fx.hist_bad != 0) {
		if (fx.hist_bad > 0)
			fx.hist_bad--;
		jv_free(items);
		respond_text(p, 200, hist_text);
		return;
	}
	if (fx.hist_fail != 0) {
		if (fx.hist_fail > 0)
			fx.hist_fail--;
		jv_free(items);
		respond_error(p, fx.hist_code ? fx.hist_code : 50000,
		    fx.hist_status ? fx.hist_status : 503,
		    "history unavailable (ably-sim fault)");
		return;
	}
	start = jnum(p->args, "start", 0, &bad);
	end = jnum(p->args, "end", now_ms(), &bad);
	limit = jnum(p->args, "limit", 100, &bad);
	dir = jvx_str(p->args, "direction");
	fwd = dir != NULL && strcmp(dir, "forwards") == 0;
	if (bad || limit < 1 || (dir != NULL && !fwd &&
	    strcmp(dir, "backwards") != 0)) {
		jv_free(items);
		respond_error(p, 40003, 400, "invalid history parameter "
		    "(start, end, limit, direction)");
		return;
	}
	if (limit > 1000) {
		jv_free(items);
		respond_error(p, 40003, 400, "limit may not exceed 1000");
		return;
	}
	if (start > end) {
		jv_free(items);
		respond_error(p, 40003, 400, "start must not be after end");
		return;
	}
	fss = jvx_str(p->args, "from_serial");
	if (fss == NULL)
		fss = jvx_str(p->args, "fromSerial");
	if (fss != NULL) {
		if (fx.fs_fail != 0) {
			if (fx.fs_fail > 0)
				fx.fs_fail--;
			jv_free(items);
			respond_error(p, fx.fs_code ? fx.fs_code : 90008,
			    fx.fs_status ? fx.fs_status : 400,
			    "from_serial rejected (ably-sim fault)");
			return;
		}
		if (fwd) {
			jv_free(items);
			respond_error(p, 40003, 400, "from_serial needs "
			    "direction=backwards");
			return;
		}
		if (c == NULL || (fs = chan_parse_serial(c, fss)) < 0) {
			jv_free(items);
			respond_error(p, 40000, 400, "from_serial is not a "
			    "serial of this channel");
			return;
		}
		if (fs < c->floor) {
			jv_free(items);
			respond_error(p, 90008, 400, "attach point too old");
			return;
		}
	}
	if ((cur = jvx_str(p->args, "cursor")) != NULL &&
	    sscanf(cur, "%lld.%d", &after.seq, &after.idx) != 2) {
		jv_free(items);
		respond_error(p, 40003, 400, "invalid cursor");
		return;
	}
	lo = start;
	if (cf.retention > 0 && lo < now_ms() - cf.retention)
		lo = now_ms() - cf.retention;
	if (lo < fx.hist_before)
		lo = fx.hist_before;
	/* pin the window so that later pages see the same one */
	args = jv_copy(p->args);
	if (jvx_str(args, "end") == NULL)
		args = jv_object_set(args, jv_string("end"), jv_string_fmt("%lld",
		    end));
	for (i = fwd ? 0 : (c ? c->npubs - 1 : -1); c != NULL && i >= 0 &&
	    i < c->npubs; i += fwd ? 1 : -1) {
		struct pub *pub = &c->pubs[i];
		if (fs >= 0 && pub->seq > fs)
			continue;
		if (pub->ts < lo || pub->ts > end)
			continue;
		n = jv_array_length(jv_copy(pub->msgs));
		for (idx = fwd ? 0 : n - 1; idx >= 0 && idx < n;
		    idx += fwd ? 1 : -1) {
			at.seq = pub->seq;
			at.idx = idx;
			if (cur != NULL && (fwd ? pos_cmp(at, after) <= 0 :
			    pos_cmp(at, after) >= 0))
				continue;
			if (count == limit) {
				more = 1;
				goto full;
			}
			m = jv_array_get(jv_copy(pub->msgs), idx);
			if (proto < 4) {
				m = jv_object_delete(m, jv_string("serial"));
				m = jv_object_delete(m, jv_string("action"));
			}
			items = jv_array_append(items, m);
			last = at;
			count++;
		}
	}
full:
	link = link_for(jv_string(""), jv_copy(args), NULL, "first");
	link = link_for(link, jv_copy(args), cur, "current");
	if (more) {
		snprintf(cbuf, sizeof cbuf, "%lld.%d", last.seq, last.idx);
		link = link_for(link, jv_copy(args), cbuf, "next");
	}
	jv_free(args);
	add_header(p, "link:", jv_string_value(link));
	jv_free(link);
	respond(p, 200, items);
}

/* ------------------------------------------------------- control: /_sim */

static int
targets(jv req, struct pss *p)
{
	const char *id = jvx_str(req, "connection");

	if (p->closing || p->conn == NULL)
		return 0;
	return id == NULL || strcmp(id, p->conn->id) == 0;
}

static int
atts_of(jv req, struct pss *p, int (*fn)(struct pss *, struct att *, jv),
    jv arg)
{
	const char *ch = jvx_str(req, "channel");
	struct att *a, *next;
	int n = 0;

	for (a = p->atts; a != NULL; a = next) {
		next = a->next;
		if (ch == NULL || strcmp(ch, a->name) == 0 ||
		    strcmp(ch, a->ch->name) == 0)
			n += fn(p, a, arg);
	}
	return n;
}

static int
f_detached(struct pss *p, struct att *a, jv req)
{
	ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_DETACHED),
	    jv_string("channel"), jv_string(a->name),
	    jv_string("error"), errinfo((int)jnum(req, "code", 90001, NULL),
	    (int)jnum(req, "status", 500, NULL), "channel detached by the "
	    "server (ably-sim fault)")));
	a->live = 0;
	return 1;
}

static int
f_attached(struct pss *p, struct att *a, jv req)
{
	char hs[64];

	chan_serial(a->ch, a->ch->npubs, hs, sizeof hs);
	ws_send(p, JV_OBJECT(jv_string("action"), jv_number(A_ATTACHED),
	    jv_string("channel"), jv_string(a->name),
	    jv_string("channelSerial"), jv_string(hs),
	    jv_string("flags"), jv_number(MODES_DEFAULT),
	    jv_string("error"), errinfo((int)jnum(req, "code", 90003, NULL),
	    (int)jnum(req, "status", 400, NULL), "channel continuity lost "
	    "(ably-sim fault)")));
	return 1;
}

static int
f_chanerror(struct pss *p, struct att *a, jv req)
{
	char *name = xstrdup(a->name);

	ws_error(p, name, (int)jnum(req, "code", 40160, NULL),
	    (int)jnum(req, "status", 401, NULL), "channel failed (ably-sim "
	    "fault)");
	att_remove(p, name);
	free(name);
	return 1;
}

/* A hostile MESSAGE on A's channel: its messages an object instead of an
 * array (wrong_types), or one message whose data holds bytes that are not
 * UTF-8 in a text frame (invalid_utf8). */
static int
f_hostile_msg(struct pss *p, struct att *a, jv req)
{
	const char *f = jvx_str(req, "fault");
	char *name = dump(jv_string(a->name)), *b;
	long long id = ++hostile_seq;
	size_t n = strlen(name) + 512;
	int utf8 = strcmp(f, "invalid_utf8") == 0;

	b = xmalloc(n);
	snprintf(b, n, "{\"action\":15,\"channel\":%s,\"id\":\"hostile:%lld\","
	    "\"timestamp\":%lld,\"messages\":%s{\"id\":\"hostile:%lld:0\","
	    "\"name\":\"rebalance\",\"data\":\"{\\\"exec\\\":\\\"rebalance\\\","
	    "\\\"eventId\\\":\\\"%s\\\"}\"}%s}", name, id, now_ms(),
	    utf8 ? "[" : "", id, utf8 ? "\xc3\x28" : "hostile", utf8 ? "]" : "");
	ws_send_raw(p, f, b, strlen(b));
	free(b);
	free(name);
	return 1;
}

static jv
sim_state(void)
{
	jv cs = jv_array(), hs = jv_array(), atts;
	struct conn *c;
	struct chan *ch;
	struct att *a;
	char s[64];

	for (c = conns; c != NULL; c = c->next) {
		atts = jv_array();
		if (c->tp != NULL)
			for (a = c->tp->atts; a != NULL; a = a->next)
				if (a->live)
					atts = jv_array_append(atts,
					    jv_string(a->name));
		cs = jv_array_append(cs, JV_OBJECT(jv_string("id"),
		    jv_string(c->id), jv_string("live"), jv_bool(c->tp != NULL),
		    jv_string("resumable"), jv_bool(!c->gone && (c->tp != NULL ||
		    now_ms() - c->dropped <= cf.ttl)),
		    jv_string("transport"), jv_number(c->tp ? c->tp->tno : 0),
		    jv_string("channels"), atts));
	}
	for (ch = chans; ch != NULL; ch = ch->next) {
		chan_serial(ch, ch->npubs, s, sizeof s);
		hs = jv_array_append(hs, JV_OBJECT(jv_string("name"),
		    jv_string(ch->name), jv_string("serial"), jv_string(s),
		    jv_string("publishes"), jv_number(ch->npubs)));
	}
	return JV_OBJECT(jv_string("connections"), cs, jv_string("channels"), hs,
	    jv_string("events"), jv_copy(events));
}

static int
onoff(jv req)	/* "on": absent means true */
{
	jv v = jvx_get(req, "on");
	int r = jv_get_kind(v) != JV_KIND_FALSE && jv_get_kind(v) !=
	    JV_KIND_NUMBER ? 1 : jv_get_kind(v) == JV_KIND_NUMBER ?
	    jv_number_value(v) != 0 : 0;

	jv_free(v);
	return r;
}

/* The frame that hostile fault F (with request REQ) sends to every
 * transport, malloc'd, its length in *N; *CUT > 0 for partial_frame. NULL
 * for the other faults, or with *BAD set for a bad parameter. */
static char *
hostile_frame(const char *f, jv req, size_t *n, size_t *cut, int *bad)
{
	static const char hb[] = "{\"action\":0}";
	const char *x;
	long long size;
	char *s = NULL;
	jv v;

	*cut = 0;
	if (strcmp(f, "malformed_json") == 0 || strcmp(f, "binary_frame") == 0) {
		/* text that is not JSON: a MESSAGE cut short; in a binary
		 * frame: a HEARTBEAT */
		if ((x = jvx_str(req, "text")) == NULL)
			x = f[0] == 'm' ? "{\"action\":15,\"channel\":\"" : hb;
		s = xstrdup(x);
	} else if (strcmp(f, "not_object") == 0 || strcmp(f, "send") == 0) {
		/* not_object: a JSON value other than an object; send: any */
		v = jvx_get(req, f[0] == 'n' ? "value" : "msg");
		if (jv_get_kind(v) == JV_KIND_NULL && f[0] == 'n') {
			jv_free(v);
			v = JV_ARRAY(JV_OBJECT(jv_string("action"),
			    jv_number(A_HEARTBEAT)));
		}
		if ((f[0] == 'n' && jv_get_kind(v) == JV_KIND_OBJECT) ||
		    (f[0] == 's' && jv_get_kind(v) == JV_KIND_NULL)) {
			jv_free(v);
			*bad = 1;
		} else
			s = dump(v);
	} else if (strcmp(f, "oversized_frame") == 0) {
		/* MSG (a HEARTBEAT) padded to SIZE bytes */
		size = jnum(req, "size", 16777217, bad);
		v = jvx_get(req, "msg");
		if (jv_get_kind(v) == JV_KIND_NULL) {
			jv_free(v);
			v = JV_OBJECT(jv_string("action"), jv_number(A_HEARTBEAT));
		}
		if (jv_get_kind(v) != JV_KIND_OBJECT || size < 16 ||
		    size > 256 << 20) {
			jv_free(v);
			*bad = 1;
		} else if ((s = padded(v, (size_t)size)) == NULL)
			*bad = 1;
	} else if (strcmp(f, "partial_frame") == 0) {
		/* the first SIZE bytes of a HEARTBEAT as an unfinished
		 * fragment, then nothing more on the transport */
		size = jnum(req, "size", 6, bad);
		if (size < 1 || size >= (long long)sizeof hb - 1)
			*bad = 1;
		else {
			s = xstrdup(hb);
			*cut = (size_t)size;
		}
	}
	*n = s ? strlen(s) : 0;
	return s;
}

static void
sim_fault(struct pss *p)
{
	jv req = jvx_parse(p->body ? p->body : "", (int)p->blen), v;
	const char *f;
	struct pss *t, *next;
	struct conn *c;
	struct chan *ch;
	struct frame *fr;
	int n = 0, bad = 0;
	long long count;
	char *raw;
	size_t rawn, cut;

	if (jv_get_kind(req) != JV_KIND_OBJECT ||
	    (f = jvx_str(req, "fault")) == NULL) {
		jv_free(req);
		respond_error(p, 40000, 400, "expected {\"fault\":NAME,...}");
		return;
	}
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("control"), jv_copy(req)));
	if (cf.verbose)
		warnx("fault %s", f);
	count = jnum(req, "count", 1, &bad);
	raw = hostile_frame(f, req, &rawn, &cut, &bad);
	if (bad) {
		free(raw);
		respond_error(p, 40000, 400, "bad fault parameter");
		jv_free(req);
		return;
	}
	for (t = transports; t != NULL; t = next) {
		next = t->next;
		if (!targets(req, t))
			continue;
		if (strcmp(f, "drop") == 0) {
			ws_close(t, 1, 0);
			n++;
		} else if (strcmp(f, "close") == 0) {
			ws_close(t, 2, (int)jnum(req, "code", 1001, NULL));
			n++;
		} else if (strcmp(f, "disconnected") == 0) {
			ws_send(t, JV_OBJECT(jv_string("action"),
			    jv_number(A_DISCONNECTED), jv_string("error"),
			    errinfo((int)jnum(req, "code", 80003, NULL),
			    (int)jnum(req, "status", 503, NULL), "disconnected "
			    "by the server (ably-sim fault)")));
			ws_close(t, 2, LWS_CLOSE_STATUS_NORMAL);
			n++;
		} else if (strcmp(f, "error") == 0) {
			ws_error(t, NULL, (int)jnum(req, "code", 50000, NULL),
			    (int)jnum(req, "status", 500, NULL), "connection "
			    "failed (ably-sim fault)");
			t->conn->gone = 1;
			ws_close(t, 2, LWS_CLOSE_STATUS_NORMAL);
			n++;
		} else if (strcmp(f, "silent") == 0) {
			t->silent = 1;
			n++;
		} else if (strcmp(f, "update") == 0) {
			send_connected(t, jv_null(), 0);
			n++;
		} else if (raw != NULL) {
			fr = ws_send_raw(t, f, raw, rawn);
			if (fr != NULL) {
				fr->binary = strcmp(f, "binary_frame") == 0;
				fr->cut = cut;
			}
			if (cut > 0)	/* nothing more on this transport */
				t->silent = 1;
			n++;
		} else if (strcmp(f, "wrong_types") == 0 ||
		    strcmp(f, "invalid_utf8") == 0)
			n += atts_of(req, t, f_hostile_msg, req);
		else if (strcmp(f, "detached") == 0)
			n += atts_of(req, t, f_detached, req);
		else if (strcmp(f, "attached") == 0)
			n += atts_of(req, t, f_attached, req);
		else if (strcmp(f, "channel_error") == 0)
			n += atts_of(req, t, f_chanerror, req);
	}
	free(raw);
	if (strcmp(f, "drop") == 0 || strcmp(f, "close") == 0 ||
	    strcmp(f, "disconnected") == 0 || strcmp(f, "error") == 0 ||
	    strcmp(f, "silent") == 0 || strcmp(f, "update") == 0 ||
	    strcmp(f, "malformed_json") == 0 ||
	    strcmp(f, "binary_frame") == 0 || strcmp(f, "not_object") == 0 ||
	    strcmp(f, "send") == 0 || strcmp(f, "oversized_frame") == 0 ||
	    strcmp(f, "partial_frame") == 0 || strcmp(f, "wrong_types") == 0 ||
	    strcmp(f, "invalid_utf8") == 0 ||
	    strcmp(f, "detached") == 0 || strcmp(f, "attached") == 0 ||
	    strcmp(f, "channel_error") == 0)
		;
	else if (strcmp(f, "refuse") == 0) {
		fx.refuse = (int)count;
		fx.refuse_status = (int)jnum(req, "status", 503, &bad);
		n = 1;
	} else if (strcmp(f, "fail_resume") == 0) {
		fx.fail_resume = (int)count;
		fx.fail_resume_code = (int)jnum(req, "code", 80008, &bad);
		n = 1;
	} else if (strcmp(f, "expire") == 0) {
		for (c = conns; c != NULL; c = c->next, n++)
			c->gone = 1;
		for (ch = chans; ch != NULL; ch = ch->next)
			ch->floor = ch->npubs;
	} else if (strcmp(f, "delay") == 0) {
		const char *what = jvx_str(req, "what");
		long long ms = jnum(req, "ms", 15000, &bad);
		if (what != NULL && strcmp(what, "attached") == 0) {
			fx.delay_attached = (int)count;
			fx.delay_attached_ms = ms;
		} else {
			fx.delay_connected = (int)count;
			fx.delay_connected_ms = ms;
		}
		n = 1;
	} else if (strcmp(f, "lose") == 0) {
		const char *name = jvx_str(req, "channel");
		if (name == NULL)
			bad = 1;
		else {
			chan_get(name, 1)->lose = (int)count;
			n = 1;
		}
	} else if (strcmp(f, "history_unavailable") == 0) {
		fx.hist_fail = (int)jnum(req, "count", -1, &bad);
		fx.hist_status = (int)jnum(req, "status", 503, &bad);
		fx.hist_code = (int)jnum(req, "code", 50000, &bad);
		n = 1;
	} else if (strcmp(f, "history_malformed") == 0) {
		const char *x = jvx_str(req, "text");

		fx.hist_bad = (int)jnum(req, "count", -1, &bad);
		free(hist_text);
		hist_text = xstrdup(x ? x : "[{\"id\":\"hostile:0:0\",\"name\":"
		    "\"rebalance\",\"data\":\"{\\\"exec\\\":");
		n = 1;
	} else if (strcmp(f, "history_truncate") == 0) {
		v = jvx_get(req, "age");
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			fx.hist_before = now_ms() - (long long)jv_number_value(v);
		else
			fx.hist_before = jnum(req, "before", now_ms(), &bad);
		jv_free(v);
		n = 1;
	} else if (strcmp(f, "from_serial_reject") == 0) {
		fx.fs_fail = (int)jnum(req, "count", -1, &bad);
		fx.fs_status = (int)jnum(req, "status", 400, &bad);
		fx.fs_code = (int)jnum(req, "code", 90008, &bad);
		n = 1;
	} else if (strcmp(f, "fragment") == 0) {
		fx.frag = (int)jnum(req, "size", 16, &bad);
		n = 1;
	} else if (strcmp(f, "omit_fields") == 0) {
		fx.omit = onoff(req);
		n = 1;
	} else if (strcmp(f, "require_tls") == 0) {
		fx.require_tls = onoff(req);
		n = 1;
	} else if (strcmp(f, "fresh_resume") == 0) {
		fx.fresh_resume = onoff(req);
		n = 1;
	} else if (strcmp(f, "clear") == 0) {
		memset(&fx, 0, sizeof fx);
		for (ch = chans; ch != NULL; ch = ch->next)
			ch->lose = 0;
		n = 1;
	} else {
		respond_error(p, 40400, 404, "unknown fault");
		jv_free(req);
		return;
	}
	if (bad) {
		respond_error(p, 40000, 400, "bad fault parameter");
		jv_free(req);
		return;
	}
	respond(p, 200, JV_OBJECT(jv_string("fault"), jv_string(f),
	    jv_string("applied"), jv_number(n)));
	jv_free(req);
}

static long
event_count(const char *name)
{
	jv v = jvx_get(events, name);
	long r = jv_get_kind(v) == JV_KIND_NUMBER ? (long)jv_number_value(v) : 0;

	jv_free(v);
	return r;
}

static void
check_waiters(void)
{
	struct pss *p, *next;

	for (p = waiters; p != NULL; p = next) {
		next = p->wnext;
		if (event_count(p->wait_ev) >= p->wait_n) {
			waiter_remove(p);
			lws_set_timer_usecs(p->wsi, LWS_SET_TIMER_USEC_CANCEL);
			respond(p, 200, JV_OBJECT(jv_string("event"),
			    jv_string(p->wait_ev), jv_string("count"),
			    jv_number(event_count(p->wait_ev))));
		}
	}
}

static void
sim_wait(struct pss *p)
{
	const char *ev = jvx_str(p->args, "event");
	int bad = 0;
	long long n = jnum(p->args, "count", 1, &bad);
	long long ms = jnum(p->args, "timeout", 10000, &bad);

	if (ev == NULL || bad || ms < 0 || ms > MAX_WAIT_MS) {
		respond_error(p, 40000, 400, "usage: /_sim/wait?event=NAME"
		    "[&count=N][&timeout=MS]");
		return;
	}
	p->wait_ev = xstrdup(ev);
	p->wait_n = (long)n;
	if (event_count(ev) >= n) {
		respond(p, 200, JV_OBJECT(jv_string("event"), jv_string(ev),
		    jv_string("count"), jv_number(event_count(ev))));
		return;
	}
	p->wnext = waiters;
	waiters = p;
	lws_set_timeout(p->wsi, NO_PENDING_TIMEOUT, 0);	/* ours is the timer */
	lws_set_timer_usecs(p->wsi, (lws_usec_t)ms * 1000);
}

static void
http_timer(struct pss *p)
{
	if (p->wait_ev == NULL || p->ready)
		return;
	waiter_remove(p);
	add_header(p, "x-ably-errorcode:", "40800");
	respond(p, 408, JV_OBJECT(jv_string("event"), jv_string(p->wait_ev),
	    jv_string("count"), jv_number(event_count(p->wait_ev)),
	    jv_string("error"), errinfo(40800, 408, "timed out")));
}

/* Route a complete request. */
static void
http_dispatch(struct pss *p)
{
	const char *path = p->path;
	size_t n = strlen(path);
	char *channel;
	struct key *k;
	int present;

	if (strcmp(path, "/time") == 0 && !p->post) {
		rest_time(p);
		return;
	}
	if (strcmp(path, "/_sim/fault") == 0 && p->post) {
		sim_fault(p);
		return;
	}
	if (strcmp(path, "/_sim/state") == 0 && !p->post) {
		respond(p, 200, sim_state());
		return;
	}
	if (strcmp(path, "/_sim/wait") == 0 && !p->post) {
		sim_wait(p);
		return;
	}
	if (n > 19 && strncmp(path, "/channels/", 10) == 0 &&
	    strcmp(path + n - 9, "/messages") == 0) {
		channel = xstrdup(path + 10);
		channel[n - 19] = '\0';
		if ((k = http_auth(p, &present)) == NULL)
			respond_error(p, fx.require_tls && present ? 40103 :
			    40101, 401, !present ? "no credentials" :
			    fx.require_tls ? "Invalid use of Basic authentication "
			    "over non-TLS transport" : "Invalid credentials");
		else if (!key_allows(k, channel))
			respond_error(p, 40160, 401, "Channel denied access "
			    "based on given capability");
		else if (p->post)
			rest_publish(p, channel);
		else
			rest_history(p, channel);
		free(channel);
		return;
	}
	respond_error(p, 40400, 404, "not found");
}

static int
http_begin(struct pss *p, struct lws *wsi, const char *uri)
{
	char cl[32];

	http_reset(p);
	p->wsi = wsi;
	p->ws = 0;
	p->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (!p->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
		return -1;
	}
	p->path = xstrdup(uri);
	p->args = query_args(wsi);
	if (p->post && (lws_hdr_copy(wsi, cl, sizeof cl,
	    WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 || atol(cl) == 0))
		http_dispatch(p);
	else if (!p->post)
		http_dispatch(p);
	return 0;
}

static int
on_upgrade(struct lws *wsi)
{
	if (fx.refuse == 0)
		return 0;
	if (fx.refuse > 0)
		fx.refuse--;
	bump("refused", NULL);
	if (journal != NULL)
		jlog(JV_OBJECT(jv_string("event"), jv_string("refused"),
		    jv_string("status"), jv_number(fx.refuse_status)));
	if (fx.refuse_status == 0)
		return -1;
	if (lws_return_http_status(wsi, (unsigned)fx.refuse_status, NULL))
		return -1;
	return 1;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_upgrade(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		if (p->wsi != NULL)
			http_reset(p);
		ws_open(p, wsi);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (p->rxlen + len > MAX_BODY) {
			ws_error(p, NULL, 40009, 400, "message too large");
			ws_close(p, 2, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
			break;
		}
		p->rx = xrealloc(p->rx, p->rxlen + len + 1);
		memcpy(p->rx + p->rxlen, in, len);
		p->rxlen += len;
		if (lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0) {
			ws_frame(p, p->rx, p->rxlen);
			p->rxlen = 0;
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(p);
	case LWS_CALLBACK_TIMER:
		if (p == NULL)
			break;
		if (p->ws)
			ws_timer(p);
		else
			http_timer(p);
		break;
	case LWS_CALLBACK_CLOSED:
		ws_closed(p);
		break;
	case LWS_CALLBACK_HTTP:
		return http_begin(p, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		if (p->ready)
			break;
		if (p->blen + len > MAX_BODY) {
			respond_error(p, 40009, 413, "body too large");
			return 0;
		}
		p->body = xrealloc(p->body, p->blen + len + 1);
		memcpy(p->body + p->blen, in, len);
		p->blen += len;
		p->body[p->blen] = '\0';
		break;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!p->ready)
			http_dispatch(p);
		break;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(p);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (p != NULL && !p->ws) {
			waiter_remove(p);
			http_reset(p);
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "ably", callback, sizeof(struct pss), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ------------------------------------------------------------- scenario */

static void
scenario_load(const char *path)
{
	jv lines, sc = yml_load(path, &lines), v, chs;
	double d;

	if (!jv_is_valid(sc)) {
		v = jv_invalid_get_msg(sc);
		die(EX_CONFIG, "%s", jv_get_kind(v) == JV_KIND_STRING ?
		    jv_string_value(v) : path);
	}
	if (jv_get_kind(sc) != JV_KIND_OBJECT)
		die(EX_CONFIG, "%s:1: expected a mapping", path);
	v = jvx_get(sc, "keys");
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_array_foreach(v, i, k) {
			if (jv_get_kind(k) == JV_KIND_STRING)
				key_add(jv_string_value(k), path);
			else if (jv_get_kind(k) == JV_KIND_OBJECT &&
			    jvx_str(k, "key") != NULL) {
				jv ch = jvx_get(k, "channels");
				char line[4096];
				size_t o = (size_t)snprintf(line, sizeof line, "%s",
				    jvx_str(k, "key"));
				if (jv_get_kind(ch) == JV_KIND_ARRAY)
					jv_array_foreach(ch, j, pat) {
						if (jv_get_kind(pat) == JV_KIND_STRING &&
						    o < sizeof line)
							o += (size_t)snprintf(line + o,
							    sizeof line - o, " %s",
							    jv_string_value(pat));
						jv_free(pat);
						(void)j;
					}
				jv_free(ch);
				key_add(line, path);
			} else
				die(EX_CONFIG, "%s:%d: keys[%d]: expected a key",
				    path, yml_line(lines, JV_ARRAY(jv_string("keys"),
				    jv_number(i))), i);
			jv_free(k);
		}
	} else if (jv_get_kind(v) != JV_KIND_NULL)
		die(EX_CONFIG, "%s:%d: keys: expected a list", path,
		    yml_line(lines, JV_ARRAY(jv_string("keys"))));
	jv_free(v);
#define MS(name, field) \
	if (jvx_num(sc, name, &d)) { \
		if (d < 0) \
			die(EX_CONFIG, "%s:%d: %s: must not be negative", path, \
			    yml_line(lines, JV_ARRAY(jv_string(name))), name); \
		cf.field = (long long)d; \
	}
	MS("max_idle_interval", idle)
	MS("connection_state_ttl", ttl)
	MS("replay_window", replay)
	MS("retention", retention)
#undef MS
	chs = jvx_get(sc, "channels");
	if (jv_get_kind(chs) == JV_KIND_OBJECT) {
		jv_object_foreach(chs, name, list) {
			struct chan *c = chan_get(jv_string_value(name), 1);
			long long now = now_ms();
			if (jv_get_kind(list) != JV_KIND_ARRAY)
				die(EX_CONFIG, "%s:%d: channels.%s: expected a list "
				    "of messages", path, yml_line(lines, JV_ARRAY(
				    jv_string("channels"), jv_copy(name))),
				    jv_string_value(name));
			jv_array_foreach(list, i, m) {
				jv serials, err;
				double age = 0, ts;
				char conn[11], pmid[32];
				if (jv_get_kind(m) != JV_KIND_OBJECT)
					die(EX_CONFIG, "%s:%d: expected a message",
					    path, yml_line(lines, JV_ARRAY(
					    jv_string("channels"), jv_copy(name),
					    jv_number(i))));
				jvx_num(m, "age", &age);
				if (!jvx_num(m, "timestamp", &ts))
					ts = (double)(now - (long long)age);
				m = jv_object_delete(m, jv_string("age"));
				m = jv_object_delete(m, jv_string("timestamp"));
				if ((long long)ts < chan_last_ts(c))
					die(EX_CONFIG, "%s:%d: messages must be in "
					    "time order", path, yml_line(lines,
					    JV_ARRAY(jv_string("channels"),
					    jv_copy(name), jv_number(i))));
				randstr(conn, 10, ALNUM);
				snprintf(pmid, sizeof pmid, "%s:0", conn);
				if (publish(c, m, conn, pmid, NULL, (long long)ts,
				    &serials, &err) == NULL && jv_get_kind(err) ==
				    JV_KIND_OBJECT)
					die(EX_CONFIG, "%s:%d: %s", path,
					    yml_line(lines, JV_ARRAY(
					    jv_string("channels"), jv_copy(name),
					    jv_number(i))), jvx_str(err, "message"));
				jv_free(serials);
				jv_free(err);
			}
			jv_free(name);
			jv_free(list);
		}
	} else if (jv_get_kind(chs) != JV_KIND_NULL)
		die(EX_CONFIG, "%s:%d: channels: expected a mapping", path,
		    yml_line(lines, JV_ARRAY(jv_string("channels"))));
	jv_free(chs);
	jv_free(lines);
	jv_free(sc);
}

/* ----------------------------------------------------------------- main */

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (ctx != NULL)
		lws_cancel_service(ctx);
}

static void
lws_log(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "%s: lws: %s", progname, line);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_vhost *vh;
	const char *jpath = NULL;
	char *env;
	long port = 0;
	int ch;

	diag_init(argv[0]);
	events = jv_object();
	while ((ch = getopt(argc, argv, "f:hi:j:k:p:r:t:vw:")) != -1) {
		switch (ch) {
		case 'f':
			scenario_load(optarg);
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'i':
			cf.idle = opt_long(ch, optarg, 0, 1800000);
			break;
		case 'j':
			jpath = optarg;
			break;
		case 'k':
			keys_load_file(optarg);
			break;
		case 'p':
			port = opt_long(ch, optarg, 0, 65535);
			break;
		case 'r':
			cf.retention = opt_long(ch, optarg, 0, LONG_MAX);
			break;
		case 't':
			cf.ttl = opt_long(ch, optarg, 0, LONG_MAX);
			break;
		case 'v':
			cf.verbose = 1;
			break;
		case 'w':
			cf.replay = opt_long(ch, optarg, 0, LONG_MAX);
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	}
	if (optind != argc)
		usage(SYNOPSIS, 0);
	if ((env = secret_get("ABLY_SIM_KEYS")) != NULL) {
		char *save, *tok;
		for (tok = strtok_r(env, " \t\r\n", &save); tok != NULL;
		    tok = strtok_r(NULL, " \t\r\n", &save))
			key_add(tok, "ABLY_SIM_KEYS");
		free(env);
	}
	if (jpath != NULL) {
		if ((journal = fopen(jpath, "w")) == NULL)
			die(EX_IOERR, "%s:", jpath);
	}
	if (nkeys == 0 && cf.verbose)
		warnx("no key list: any well-formed key is accepted");

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lws_set_log_level(cf.verbose ? LLL_ERR | LLL_WARN : LLL_ERR, lws_log);

	memset(&info, 0, sizeof info);
	info.port = (int)port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.vhost_name = "ably-sim";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.max_http_header_data = 8192;
	info.timeout_secs = 30;
	if ((ctx = lws_create_context(&info)) == NULL)
		die(EX_UNAVAILABLE, "cannot listen on 127.0.0.1:%ld", port);
	vh = lws_get_vhost_by_name(ctx, "ably-sim");
	if (vh == NULL || lws_get_vhost_listen_port(vh) <= 0)
		die(EX_UNAVAILABLE, "cannot listen on 127.0.0.1:%ld", port);
	printf("%d\n", lws_get_vhost_listen_port(vh));
	if (fflush(stdout) == EOF)
		die(EX_IOERR, "write error: stdout:");
	if (cf.verbose)
		warnx("listening on 127.0.0.1:%d", lws_get_vhost_listen_port(vh));

	while (!stop && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	if (journal != NULL && fclose(journal) == EOF)
		die(EX_IOERR, "%s:", jpath);
	jv_free(events);
	return 0;
}
