/* alloc-sim: an offline allocation API on loopback, scripted by a directory
 * of <strategy>.json files or a YAML scenario, with faults (status, delay,
 * malformed body, wrong schema, hang); with -s an HTTP sink that journals
 * what is posted to it (for rebal-notify). */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "tm.h"
#include "yml.h"

#define MAXREQ (1L << 20)
#define MAXCONN 256

static const char *synopsis =
    "[-hs] [-d DIR] [-f SCENARIO] [-j JOURNAL] [-p PORT]";

struct fault {
	int set;
	int status;		/* answer this status */
	long delay_ms;		/* wait before answering */
	int malformed;		/* 200 with truncated JSON */
	int wrong_schema;	/* 200 with JSON of another shape */
	int hang;		/* read the request, never answer */
	long times;		/* applies to this many requests; -1 all */
	long used;
	char *body;		/* body for a status fault */
};

struct strat {
	char *name;
	char *body;		/* the response body, NULL: from -d DIR */
	struct fault f;
};

enum { C_READ, C_WAIT, C_WRITE, C_HANG };

struct conn {
	int fd, state;
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outoff;
	double at;		/* C_WAIT: when to answer */
};

static struct strat *strats;
static int nstrats;
static struct fault gfault;
static const char *dir;
static FILE *journal;
static char *key;
static int sink;
static long nreq;
static volatile sig_atomic_t stop;
static struct conn *conns[MAXCONN];

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Scenario loading. */

static _Noreturn void
bad(const char *path, jv lines, jv where, const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof msg, fmt, arg);
	die(EX_CONFIG, "%s:%d: %s", path, yml_line(lines, where), msg);
}

static long
num_field(const char *path, jv lines, jv where, jv v, long min, long max)
{
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;

	if (!(d >= (double)min && d <= (double)max) || d != floor(d))
		bad(path, lines, where, "%s: expected a whole number in range",
		    jv_string_value(jv_array_get(jv_copy(where),
		    jv_array_length(jv_copy(where)) - 1)));
	jv_free(where);
	return (long)d;
}

static int
bool_field(const char *path, jv lines, jv where, jv v)
{
	if (jv_get_kind(v) != JV_KIND_TRUE && jv_get_kind(v) != JV_KIND_FALSE)
		bad(path, lines, where, "%s: expected true or false",
		    jv_string_value(jv_array_get(jv_copy(where),
		    jv_array_length(jv_copy(where)) - 1)));
	jv_free(where);
	return jv_get_kind(v) == JV_KIND_TRUE;
}

static void
load_fault(const char *path, jv lines, jv where, jv m, struct fault *f)
{
	memset(f, 0, sizeof *f);
	f->set = 1;
	f->times = -1;
	if (jv_get_kind(m) != JV_KIND_OBJECT)
		bad(path, lines, jv_copy(where), "%s: expected a mapping",
		    "fault");
	jv_object_foreach(m, k, v) {
		const char *s = jv_string_value(k);
		jv w = jv_array_append(jv_copy(where), jv_copy(k));

		if (strcmp(s, "status") == 0)
			f->status = (int)num_field(path, lines, w, v, 100, 599);
		else if (strcmp(s, "delay_ms") == 0)
			f->delay_ms = num_field(path, lines, w, v, 0, 3600000);
		else if (strcmp(s, "times") == 0)
			f->times = num_field(path, lines, w, v, 0, LONG_MAX);
		else if (strcmp(s, "malformed") == 0)
			f->malformed = bool_field(path, lines, w, v);
		else if (strcmp(s, "wrong_schema") == 0)
			f->wrong_schema = bool_field(path, lines, w, v);
		else if (strcmp(s, "hang") == 0)
			f->hang = bool_field(path, lines, w, v);
		else if (strcmp(s, "body") == 0) {
			if (jv_get_kind(v) != JV_KIND_STRING)
				bad(path, lines, w, "%s: expected a string", s);
			f->body = xstrdup(jv_string_value(v));
			jv_free(w);
		} else
			bad(path, lines, w, "unknown fault key \"%s\"", s);
		jv_free(k);
		jv_free(v);
	}
	jv_free(m);
	jv_free(where);
}

static void
load_scenario(const char *path)
{
	jv lines, doc = yml_load(path, &lines), ss;

	if (!jv_is_valid(doc)) {
		jv msg = jv_invalid_get_msg(doc);
		die(EX_CONFIG, "%s", jv_string_value(msg));
	}
	if (jv_get_kind(doc) != JV_KIND_OBJECT)
		bad(path, lines, jv_array(), "%s", "expected a mapping");
	jv_object_foreach(doc, k, v) {
		const char *s = jv_string_value(k);
		if (strcmp(s, "fault") == 0)
			load_fault(path, lines, JV_ARRAY(jv_copy(k)), jv_copy(v),
			    &gfault);
		else if (strcmp(s, "strategies") != 0)
			bad(path, lines, JV_ARRAY(jv_copy(k)),
			    "unknown key \"%s\"", s);
		jv_free(k);
		jv_free(v);
	}
	ss = jvx_get(doc, "strategies");
	if (jv_get_kind(ss) != JV_KIND_OBJECT && jv_get_kind(ss) != JV_KIND_NULL)
		bad(path, lines, JV_ARRAY(jv_string("strategies")),
		    "%s: expected a mapping", "strategies");
	if (jv_get_kind(ss) == JV_KIND_OBJECT)
		jv_object_foreach(ss, name, sv) {
		struct strat *st;
		jv where = JV_ARRAY(jv_string("strategies"), jv_copy(name));

		strats = xrealloc(strats, (nstrats + 1) * sizeof *strats);
		st = &strats[nstrats++];
		memset(st, 0, sizeof *st);
		st->name = xstrdup(jv_string_value(name));
		if (jv_get_kind(sv) != JV_KIND_OBJECT)
			bad(path, lines, where, "%s: expected a mapping",
			    st->name);
		jv_object_foreach(sv, k, v) {
			const char *s = jv_string_value(k);
			jv w = jv_array_append(jv_copy(where), jv_copy(k));

			if (strcmp(s, "fault") == 0)
				load_fault(path, lines, w, jv_copy(v), &st->f);
			else if (strcmp(s, "allocations") == 0 ||
			    strcmp(s, "response") == 0 ||
			    strcmp(s, "body") == 0) {
				jv r;
				if (st->body != NULL)
					bad(path, lines, w, "%s: only one of "
					    "allocations, response, body", s);
				if (strcmp(s, "body") == 0) {
					if (jv_get_kind(v) != JV_KIND_STRING)
						bad(path, lines, w,
						    "%s: expected a string", s);
					r = jv_copy(v);
				} else if (strcmp(s, "response") == 0)
					r = jv_dump_string(jv_copy(v), 0);
				else {
					if (jv_get_kind(v) != JV_KIND_ARRAY)
						bad(path, lines, w,
						    "%s: expected a list", s);
					r = jv_dump_string(JV_OBJECT(
					    jv_string("status"),
					    jv_string("success"),
					    jv_string("data"), JV_OBJECT(
					    jv_string("name"),
					    jv_copy(name),
					    jv_string("allocations"),
					    jv_copy(v))), 0);
				}
				st->body = xstrdup(jv_string_value(r));
				jv_free(r);
				jv_free(w);
			} else
				bad(path, lines, w, "unknown key \"%s\"", s);
			jv_free(k);
			jv_free(v);
		}
		jv_free(where);
		jv_free(name);
		jv_free(sv);
	}
	jv_free(ss);
	jv_free(doc);
	jv_free(lines);
}

/* Requests. */

static struct strat *
find(const char *name)
{
	int i;

	for (i = 0; i < nstrats; i++)
		if (strcmp(strats[i].name, name) == 0)
			return &strats[i];
	return NULL;
}

static int
safe_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 128 && s[0] != '.' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

/* The body of DIR/NAME.json, or NULL. */
static char *
dir_body(const char *name)
{
	char path[PATH_MAX];
	FILE *f;
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (dir == NULL || !safe_name(name))
		return NULL;
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap)
			buf = xrealloc(buf, cap = (cap ? cap * 2 : 8192));
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

static void
answer(struct conn *c, int status, const char *body)
{
	free(c->out);
	c->outlen = (size_t)asprintf(&c->out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", status, reason(status),
	    strlen(body), body);
	c->outoff = 0;
	c->state = C_WRITE;
}

static jv
error_body(const char *msg)
{
	return jv_dump_string(JV_OBJECT(jv_string("status"),
	    jv_string("error"), jv_string("message"), jv_string(msg)), 0);
}

static void
journal_write(jv e)
{
	jv s;

	if (journal == NULL) {
		jv_free(e);
		return;
	}
	s = jv_dump_string(e, 0);
	if (fprintf(journal, "%s\n", jv_string_value(s)) < 0 ||
	    fflush(journal) == EOF)
		die(EX_IOERR, "journal:");
	jv_free(s);
}

/* The fault for this request, or NULL; counts it. */
static struct fault *
pick_fault(struct strat *st)
{
	struct fault *f = st != NULL && st->f.set ? &st->f :
	    gfault.set ? &gfault : NULL;

	if (f == NULL || (f->times >= 0 && f->used >= f->times))
		return NULL;
	f->used++;
	return f;
}

/* Decide the answer to a complete request. */
static void
handle(struct conn *c, const char *method, const char *path, jv headers,
    const char *body, size_t blen)
{
	jv e, msg = jv_null();
	struct strat *st = NULL;
	struct fault *f = NULL;
	const char *got, *fault = NULL, *seg, *end;
	char name[256], *dbody = NULL, *payload = NULL, *tmp = NULL;
	const char *kst;
	int status = 200;
	size_t n;

	nreq++;
	/* the path's last two segments: {name}/allocations, or the topic */
	end = path + strcspn(path, "?");
	name[0] = '\0';
	if (sink) {
		seg = end;
		while (seg > path && seg[-1] != '/')
			seg--;
		n = (size_t)(end - seg);
	} else if (end - path > 12 && strncmp(end - 12, "/allocations", 12)
	    == 0) {
		end -= 12;
		seg = end;
		while (seg > path && seg[-1] != '/')
			seg--;
		n = (size_t)(end - seg);
	} else
		seg = path, n = 0;
	if (n < sizeof name) {
		memcpy(name, seg, n);
		name[n] = '\0';
	}

	got = jvx_str(headers, sink ? "authorization" : "x-api-key");
	if (key == NULL)
		kst = "unchecked";
	else if (got == NULL)
		kst = "none";
	else if (sink ? strncmp(got, "Bearer ", 7) == 0 &&
	    strcmp(got + 7, key) == 0 : strcmp(got, key) == 0)
		kst = "ok";
	else
		kst = "bad";

	if (!sink && strcmp(method, "GET") != 0) {
		status = 405;
		msg = error_body("method not allowed");
	} else if (!sink && name[0] == '\0') {
		status = 404;
		msg = error_body("not found");
	} else if (strcmp(kst, "none") == 0 || strcmp(kst, "bad") == 0) {
		status = 401;
		msg = error_body(strcmp(kst, "none") == 0 ?
		    "missing API key" : "invalid API key");
	} else {
		if (!sink)
			st = find(name);
		f = pick_fault(st);
		if (f != NULL && f->hang) {
			fault = "hang";
		} else if (f != NULL && f->status != 0) {
			fault = "status";
			status = f->status;
			msg = f->body ? jv_string(f->body) :
			    error_body("simulated failure");
		} else if (sink) {
			char id[32];
			snprintf(id, sizeof id, "sim%ld", nreq);
			msg = jv_dump_string(JV_OBJECT(jv_string("id"),
			    jv_string(id), jv_string("event"),
			    jv_string("message"), jv_string("topic"),
			    jv_string(name)), 0);
		} else if (st == NULL && (dbody = dir_body(name)) == NULL) {
			char m[300];
			snprintf(m, sizeof m, "strategy not found: %s", name);
			status = 404;
			msg = error_body(m);
		} else if (f != NULL && f->wrong_schema) {
			fault = "wrong_schema";
			msg = jv_string("{\"status\":\"success\",\"data\":"
			    "{\"weights\":{\"SPY\":0.6,\"TLT\":0.4}}}");
		} else {
			payload = st != NULL && st->body != NULL ? st->body :
			    dbody;
			if (payload == NULL) {
				status = 404;
				msg = error_body("strategy has no response");
			} else if (f != NULL && f->malformed) {
				fault = "malformed";
				tmp = xstrdup(payload);
				tmp[strlen(tmp) / 2] = '\0';
				msg = jv_string(tmp);
			} else
				msg = jv_string(payload);
		}
		if (fault == NULL && f != NULL && f->delay_ms > 0)
			fault = "delay";
	}

	e = JV_OBJECT(jv_string("at"), jv_string(tm_fmt(tm_now(),
	    (char[32]){ 0 })), jv_string("method"), jv_string(method),
	    jv_string("path"), jv_string(path));
	e = jv_object_set(e, jv_string(sink ? "topic" : "strategy"),
	    name[0] ? jv_string(name) : jv_null());
	e = jv_object_set(e, jv_string("key"), jv_string(kst));
	e = jv_object_set(e, jv_string("status"), fault != NULL &&
	    strcmp(fault, "hang") == 0 ? jv_null() : jv_number(status));
	e = jv_object_set(e, jv_string("fault"),
	    fault ? jv_string(fault) : jv_null());
	if (f != NULL && f->delay_ms > 0)
		e = jv_object_set(e, jv_string("delay_ms"),
		    jv_number(f->delay_ms));
	if (sink) {
		jv h = jv_copy(headers);
		h = jv_object_delete(h, jv_string("authorization"));
		h = jv_object_delete(h, jv_string("x-api-key"));
		h = jv_object_delete(h, jv_string("cookie"));
		e = jv_object_set(e, jv_string("headers"), h);
		e = jv_object_set(e, jv_string("body"),
		    jv_string_sized(body, (int)blen));
	}
	journal_write(e);

	if (fault != NULL && strcmp(fault, "hang") == 0)
		c->state = C_HANG;
	else {
		answer(c, status, jv_string_value(msg));
		if (f != NULL && f->delay_ms > 0) {
			c->state = C_WAIT;
			c->at = mono() + f->delay_ms / 1000.0;
		}
	}
	jv_free(msg);
	free(dbody);
	free(tmp);
}

/* Handle the request in C once it is whole; 0 while more is needed. */
static int
parse(struct conn *c)
{
	char *hend, *hdr, *p, *eol, *colon, *sp1, *sp2, *q;
	char method[16], path[2048];
	jv headers;
	long clen = 0;
	size_t hlen;
	const char *cl;

	if ((hend = memmem(c->in, c->inlen, "\r\n\r\n", 4)) == NULL) {
		if (c->inlen > 65536)
			answer(c, 413, "{\"status\":\"error\"}");
		return c->inlen > 65536;
	}
	hlen = (size_t)(hend - c->in) + 4;
	hdr = xmalloc(hlen);
	memcpy(hdr, c->in, hlen - 4);
	hdr[hlen - 4] = '\0';
	if ((eol = strstr(hdr, "\r\n")) != NULL)
		*eol = '\0';
	sp1 = strchr(hdr, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - hdr) >= sizeof method
	    || (size_t)(sp2 - sp1 - 1) >= sizeof path) {
		free(hdr);
		answer(c, 400, "{\"status\":\"error\"}");
		return 1;
	}
	memcpy(method, hdr, (size_t)(sp1 - hdr));
	method[sp1 - hdr] = '\0';
	memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	path[sp2 - sp1 - 1] = '\0';
	headers = jv_object();
	for (p = eol ? eol + 2 : NULL; p != NULL; p = eol ? eol + 2 : NULL) {
		if ((eol = strstr(p, "\r\n")) != NULL)
			*eol = '\0';
		if ((colon = strchr(p, ':')) == NULL)
			continue;
		*colon = '\0';
		for (q = p; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		q = colon + 1;
		while (*q == ' ' || *q == '\t')
			q++;
		headers = jv_object_set(headers, jv_string(p), jv_string(q));
	}
	free(hdr);
	if (jvx_str(headers, "transfer-encoding") != NULL) {
		jv_free(headers);
		answer(c, 411, "{\"status\":\"error\"}");
		return 1;
	}
	if ((cl = jvx_str(headers, "content-length")) != NULL) {
		clen = strtol(cl, NULL, 10);
		if (clen < 0 || clen > MAXREQ) {
			jv_free(headers);
			answer(c, 413, "{\"status\":\"error\"}");
			return 1;
		}
	}
	if (c->inlen < hlen + (size_t)clen) {
		jv_free(headers);
		return 0;
	}
	handle(c, method, path, headers, c->in + hlen, (size_t)clen);
	jv_free(headers);
	return 1;
}

static void
drop(int i)
{
	close(conns[i]->fd);
	free(conns[i]->in);
	free(conns[i]->out);
	free(conns[i]);
	conns[i] = NULL;
}

static void
on_read(int i)
{
	struct conn *c = conns[i];
	ssize_t n;

	if (c->incap - c->inlen < 4096)
		c->in = xrealloc(c->in, c->incap = c->incap * 2 + 8192);
	n = read(c->fd, c->in + c->inlen, c->incap - c->inlen - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(i);
		return;
	}
	if (c->state == C_HANG)
		return;		/* discard; wait for the client to go */
	if (c->inlen == 0 && c->in[0] == 0x16) {
		/* a TLS ClientHello: answer in plain text, as web servers do */
		answer(c, 400, "{\"status\":\"error\",\"message\":"
		    "\"plain HTTP server\"}");
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (c->inlen > (size_t)MAXREQ + 65536) {
		answer(c, 413, "{\"status\":\"error\"}");
		return;
	}
	parse(c);
}

static void
on_write(int i)
{
	struct conn *c = conns[i];
	ssize_t n;

	n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
	    MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		drop(i);
		return;
	}
	c->outoff += (size_t)n;
	if (c->outoff == c->outlen) {
		shutdown(c->fd, SHUT_WR);
		drop(i);
	}
}

static void
serve(int lfd)
{
	struct pollfd pfd[MAXCONN + 1];
	int map[MAXCONN + 1], i, n, fd, r;
	struct timespec ts, *tsp;
	sigset_t none;
	double now, next;

	sigemptyset(&none);
	while (!stop) {
		n = 0;
		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		map[n++] = -1;
		next = -1;
		now = mono();
		for (i = 0; i < MAXCONN; i++) {
			struct conn *c = conns[i];
			if (c == NULL)
				continue;
			if (c->state == C_WAIT) {
				if (c->at <= now)
					c->state = C_WRITE;
				else {
					if (next < 0 || c->at < next)
						next = c->at;
					continue;
				}
			}
			pfd[n].fd = c->fd;
			pfd[n].events = c->state == C_WRITE ? POLLOUT : POLLIN;
			map[n++] = i;
		}
		tsp = NULL;
		if (next >= 0) {
			double d = next - now;
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			tsp = &ts;
		}
		r = ppoll(pfd, (nfds_t)n, tsp, &none);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(EX_OSERR, "poll:");
		}
		for (i = 1; i < n; i++) {
			if (pfd[i].revents == 0 || conns[map[i]] == NULL)
				continue;
			if (pfd[i].revents & POLLOUT)
				on_write(map[i]);
			else
				on_read(map[i]);
		}
		if (pfd[0].revents & POLLIN) {
			fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
			    SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			for (i = 0; i < MAXCONN && conns[i] != NULL; i++)
				;
			if (i == MAXCONN) {
				close(fd);
				continue;
			}
			conns[i] = xmalloc(sizeof *conns[i]);
			memset(conns[i], 0, sizeof *conns[i]);
			conns[i]->fd = fd;
			conns[i]->state = C_READ;
		}
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	const char *scenario = NULL, *jpath = NULL;
	struct sigaction act;
	sigset_t block;
	long port = 0;
	int c, lfd, one = 1, i;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "d:f:hj:p:s")) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'f':
			scenario = optarg;
			break;
		case 'h':
			usage(synopsis, 1);
		case 'j':
			jpath = optarg;
			break;
		case 'p':
			port = opt_long('p', optarg, 0, 65535);
			break;
		case 's':
			sink = 1;
			break;
		default:
			usage(synopsis, 0);
		}
	}
	if (optind != argc || (!sink && dir == NULL && scenario == NULL))
		usage(synopsis, 0);
	if (scenario != NULL)
		load_scenario(scenario);
	key = secret_get(sink ? "NTFY_TOKEN" : "ALLOCATIONS_API_KEY");
	if (jpath != NULL && (journal = fopen(jpath, "a")) == NULL)
		die(EX_CANTCREAT, "%s:", jpath);

	memset(&act, 0, sizeof act);
	act.sa_handler = on_signal;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGHUP, &act, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		die(EX_OSERR, "socket:");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die(EX_UNAVAILABLE, "bind 127.0.0.1:%ld:", port);
	if (listen(lfd, 64) < 0)
		die(EX_OSERR, "listen:");
	if (getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		die(EX_OSERR, "getsockname:");
	if (printf("%d\n", ntohs(sa.sin_port)) < 0 || fflush(stdout) == EOF)
		die(EX_IOERR, "write error: stdout:");
	warnx("listening on 127.0.0.1:%d%s", ntohs(sa.sin_port),
	    sink ? " (sink)" : "");

	serve(lfd);

	for (i = 0; i < MAXCONN; i++)
		if (conns[i] != NULL)
			drop(i);
	close(lfd);
	for (i = 0; i < nstrats; i++) {
		free(strats[i].name);
		free(strats[i].body);
		free(strats[i].f.body);
	}
	free(strats);
	free(gfault.body);
	free(key);
	if (journal != NULL && fclose(journal) == EOF)
		die(EX_IOERR, "journal:");
	return 0;
}
