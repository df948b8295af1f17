/* tws: TWS API client connection: connect, handshake, paced sends, poll loop. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "tws.h"

double
tws_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void __attribute__((format(printf, 4, 5)))
seterr(struct tws_err *e, int status, int code, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

/* Move frames from the pacing queue to the output as the token bucket and
 * the sliding window allow, then write what the socket takes. -1 on a
 * write error (t->err set). */
static int
pump(struct tws *t)
{
	const unsigned char *p;
	double now = tws_clock();
	size_t n;
	ssize_t w;

	t->tokens += (now - t->refill) * t->rate;
	if (t->tokens > t->burst)
		t->tokens = t->burst;
	t->refill = now;
	/* Complete frames are q.p[0 .. q.start). */
	while (t->tokens >= 1 && t->q.start >= 4 &&
	    now - t->sent[t->sentpos] >= TWS_WINDOW_SECS) {
		p = (const unsigned char *)t->q.p;
		n = 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 |
		    (size_t)p[2] << 8 | p[3]);
		twsf_raw(&t->out, t->q.p, n);
		twsf_drop(&t->q, n);
		t->tokens -= 1;
		t->sent[t->sentpos] = now;
		t->sentpos = (t->sentpos + 1) % TWS_WINDOW;
	}
	while (t->out.len > 0) {
		w = send(t->fd, t->out.p, t->out.len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				seterr(&t->err, EX_UNAVAILABLE, 0,
				    "gateway closed the connection");
			else
				seterr(&t->err, EX_IOERR, 0, "send: %s",
				    strerror(errno));
			return -1;
		}
		twsf_drop(&t->out, w);
	}
	return 0;
}

/* Seconds until the next frame may be sent (a token and room in the
 * window), or -1 when nothing waits. */
static double
token_wait(const struct tws *t)
{
	double w, s;

	if (t->q.start < 4)
		return -1;
	w = t->tokens >= 1 ? 0 : (1 - t->tokens) / t->rate;
	s = t->sent[t->sentpos] + TWS_WINDOW_SECS - tws_clock();
	if (s > w)
		w = s;
	return w > 0 ? w : 0;
}

/* Wait for the socket until DEADLINE or the next pacing token, and take in
 * what arrived. 1 something may have changed, 0 the deadline passed, -1
 * error. */
static int
wait_io(struct tws *t, double deadline)
{
	struct pollfd pfd;
	struct timespec ts;
	double left, tw;
	ssize_t n;
	int rc, token = 0;

	left = deadline - tws_clock();
	tw = token_wait(t);
	if (tw >= 0 && tw < left) {
		left = tw;
		token = 1;
	}
	if (left < 0)
		left = 0;
	ts.tv_sec = (time_t)left;
	ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
	pfd.fd = t->fd;
	pfd.events = (t->eof ? 0 : POLLIN) | (t->out.len > 0 ? POLLOUT : 0);
	pfd.revents = 0;
	rc = ppoll(&pfd, 1, &ts, NULL);
	if (rc < 0) {
		if (errno == EINTR)
			return 1;
		seterr(&t->err, EX_IOERR, 0, "poll: %s", strerror(errno));
		return -1;
	}
	if (rc == 0)
		return token || tws_clock() < deadline;
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
		n = twsf_read(&t->in, t->fd);
		if (n == 0)
			t->eof = 1;
		else if (n < 0 && errno == ECONNRESET)
			t->eof = 1;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			seterr(&t->err, EX_IOERR, 0, "read: %s",
			    strerror(errno));
			return -1;
		}
	}
	return 1;
}

/* End of file: 69 after whole frames; 76 inside one (the gateway cut a
 * frame short: the stream is corrupt). */
static void
eof_err(struct tws *t)
{
	if (t->in.len > t->in.off)
		seterr(&t->err, EX_PROTOCOL, 0, "gateway closed the "
		    "connection inside a frame: stream corrupt");
	else
		seterr(&t->err, EX_UNAVAILABLE, 0,
		    "gateway closed the connection");
}

/* The next frame from the socket (not the backlog). 1 frame, 0 deadline,
 * -1 error (t->err). */
static int
read_frame(struct tws *t, double deadline, struct twsf_msg *f)
{
	int rc;

	for (;;) {
		if (pump(t) == -1)
			return -1;
		rc = twsf_frame(&t->in, f);
		if (rc == 1)
			return 1;
		if (rc == -1) {
			seterr(&t->err, EX_PROTOCOL, 0,
			    "frame longer than 16 MiB: stream corrupt");
			return -1;
		}
		if (t->eof) {
			eof_err(t);
			return -1;
		}
		rc = wait_io(t, deadline);
		if (rc <= 0)
			return rc;
	}
}

static void
backlog(struct tws *t, struct twsf_msg *f)
{
	if (t->backhead == t->nback)
		t->backhead = t->nback = 0;
	if (t->nback == t->backcap) {
		t->backcap = t->backcap ? 2 * t->backcap : 16;
		t->back = xrealloc(t->back, t->backcap * sizeof *t->back);
	}
	t->back[t->nback++] = *f;
	f->f = NULL;
}

static void
set_accounts(struct tws *t, const char *list)
{
	const char *s, *e;
	int i;

	for (i = 0; i < t->naccounts; i++)
		free(t->accounts[i]);
	free(t->accounts);
	t->accounts = NULL;
	t->naccounts = 0;
	for (s = list; *s != '\0'; s = *e ? e + 1 : e) {
		e = strchr(s, ',');
		if (e == NULL)
			e = s + strlen(s);
		if (e == s)
			continue;
		t->accounts = xrealloc(t->accounts,
		    (t->naccounts + 1) * sizeof *t->accounts);
		t->accounts[t->naccounts] = xmalloc(e - s + 1);
		memcpy(t->accounts[t->naccounts], s, e - s);
		t->accounts[t->naccounts++][e - s] = '\0';
	}
}

/* Decode F into t->cur and apply what the connection keeps. 1 a message,
 * 0 skipped (unknown id, empty frame), -1 decode error (t->err). */
static int
deliver(struct tws *t, struct twsf_msg *f)
{
	struct twsm_msg *m = &t->cur;

	twsm_msg_free(m);
	if (twsm_decode(f, m) == -1) {
		seterr(&t->err, EX_PROTOCOL, 0, "malformed %s from gateway: %s",
		    m->id >= 0 ? twsm_name(m->id) : "message", m->err);
		twsm_msg_free(m);
		return -1;
	}
	switch (m->type) {
	case TWSM_UNKNOWN:
		twsm_msg_free(m);
		return 0;
	case TWSM_NEXT_VALID_ID:
		if (m->u.next_id.order_id > t->next_order_id)
			t->next_order_id = m->u.next_id.order_id;
		t->have_id = 1;
		break;
	case TWSM_MANAGED_ACCTS:
		set_accounts(t, m->u.managed.accounts);
		t->have_accts = 1;
		break;
	case TWSM_OPEN_ORDER:
		/* New ids must exceed every id seen (5.2). */
		if (m->u.order.order_id >= t->next_order_id)
			t->next_order_id = m->u.order.order_id + 1;
		break;
	default:
		break;
	}
	return 1;
}

static int
dial(const char *host, const char *port, double deadline, struct tws_err *e)
{
	struct addrinfo hints, *res, *ai;
	struct pollfd pfd;
	socklen_t len;
	double left;
	int fd = -1, rc, err = 0, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		seterr(e, EX_UNAVAILABLE, 0, "%s:%s: %s", host, port,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			fd = -1;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do {
			left = deadline - tws_clock();
			rc = poll(&pfd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
		} while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			close(fd);
			freeaddrinfo(res);
			seterr(e, EX_TEMPFAIL, 0, "%s:%s: connect timed out",
			    host, port);
			return -1;
		}
		len = sizeof err;
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &len) == -1)
			err = errno;
		if (err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		seterr(e, EX_UNAVAILABLE, 0, "%s:%s: %s", host, port,
		    strerror(err ? err : ECONNREFUSED));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Server version and connection time: the first two-field frame. */
static int
handshake(struct tws *t, double deadline, struct tws_err *e)
{
	struct twsf_msg f;
	char *end;
	long v;
	int rc;

	twsm_greeting(&t->out);
	for (;;) {
		rc = read_frame(t, deadline, &f);
		if (rc == 0) {
			seterr(e, EX_TEMPFAIL, 0, "no handshake reply from "
			    "gateway before the deadline");
			return -1;
		}
		if (rc < 0) {
			*e = t->err;
			if (t->eof && e->status == EX_UNAVAILABLE)
				seterr(e, EX_UNAVAILABLE, 0, "gateway closed the "
				    "connection during the handshake");
			return -1;
		}
		if (f.n == 2)
			break;
		twsf_msg_free(&f);	/* "news before the server version" */
	}
	if (strcmp(f.f[0], "-1") == 0) {
		seterr(e, EX_UNAVAILABLE, 0, "gateway redirects to %s: not "
		    "supported", f.f[1]);
		twsf_msg_free(&f);
		return -1;
	}
	errno = 0;
	v = strtol(f.f[0], &end, 10);
	if (*f.f[0] == '\0' || *end != '\0' || errno != 0 ||
	    v != TWSM_VERSION) {
		seterr(e, EX_PROTOCOL, 0, "gateway speaks server version "
		    "\"%.20s\"; only %d is supported", f.f[0], TWSM_VERSION);
		twsf_msg_free(&f);
		return -1;
	}
	t->server_version = v;
	t->conn_time = xstrdup(f.f[1]);
	twsf_msg_free(&f);
	return 0;
}

struct tws *
tws_connect(const char *host, const char *port, int client_id,
    double deadline, struct tws_err *e)
{
	struct tws *t;
	struct twsf_msg f;
	struct twsm_msg m;
	int fd, i, rc;

	memset(e, 0, sizeof *e);
	if ((fd = dial(host, port, deadline, e)) == -1)
		return NULL;
	t = xmalloc(sizeof *t);
	memset(t, 0, sizeof *t);
	t->fd = fd;
	t->client_id = client_id;
	t->next_req_id = TWS_REQ_BASE;
	t->rate = TWS_RATE;
	t->burst = TWS_BURST;
	t->tokens = t->burst;
	t->refill = tws_clock();
	for (i = 0; i < TWS_WINDOW; i++)
		t->sent[i] = t->refill - TWS_WINDOW_SECS;
	if (handshake(t, deadline, e) == -1)
		goto fail;
	twsm_start_api(&t->q, client_id);
	while (!t->have_id || !t->have_accts) {
		rc = read_frame(t, deadline, &f);
		if (rc == 0) {
			seterr(e, EX_TEMPFAIL, 0, "gateway did not send %s "
			    "before the deadline", !t->have_id ?
			    "NEXT_VALID_ID" : "MANAGED_ACCTS");
			goto fail;
		}
		if (rc < 0) {
			*e = t->err;
			if (t->eof && e->status == EX_UNAVAILABLE)
				seterr(e, EX_UNAVAILABLE, 0, "gateway closed the "
				    "connection after START_API (not logged "
				    "in, API disabled or host not trusted?)");
			goto fail;
		}
		if (f.n > 0 && (strcmp(f.f[0], "9") == 0 ||
		    strcmp(f.f[0], "15") == 0)) {
			rc = deliver(t, &f);
			twsm_msg_free(&t->cur);
			if (rc == -1) {
				*e = t->err;
				goto fail;
			}
			continue;
		}
		if (f.n > 0 && strcmp(f.f[0], "4") == 0) {
			/* Decode a copy to look at the code; keep the frame. */
			struct twsf_msg c = f;

			c.f = xmalloc((f.n + 1) * sizeof *c.f);
			memcpy(c.f, f.f, (f.n + 1) * sizeof *c.f);
			rc = twsm_decode(&c, &m);
			/* m.f.f is the copied pointer array only. */
			if (rc == 0 && m.u.error.code == 326) {
				seterr(e, EX_TEMPFAIL, 326, "client id %d is "
				    "in use: %s", client_id, m.u.error.text);
				twsm_msg_free(&m);
				twsf_msg_free(&f);
				goto fail;
			}
			if (rc == 0 && m.u.error.cls == TWSM_FATAL) {
				seterr(e, EX_UNAVAILABLE, m.u.error.code,
				    "gateway error %d: %s", m.u.error.code,
				    m.u.error.text);
				twsm_msg_free(&m);
				twsf_msg_free(&f);
				goto fail;
			}
			twsm_msg_free(&m);
		}
		backlog(t, &f);
	}
	return t;
fail:
	tws_close(t);
	return NULL;
}

struct tws *
tws_connect_retry(const char *host, const char *port, int client_id,
    double deadline, struct tws_err *e)
{
	struct tws *t;
	struct timespec ts;
	double pause = 0.1, until;
	int said = 0;

	for (;;) {
		t = tws_connect(host, port, client_id, deadline, e);
		if (t != NULL || e->code != 326)
			return t;
		/* said once: the operator sees why the connect takes long */
		if (!said++)
			warnx("%s:%s: client id %d is in use (326): retrying "
			    "until the deadline", host, port, client_id);
		/* Nothing to wait on: the other socket closes on its own. */
		until = tws_clock() + pause;
		if (until >= deadline)
			return NULL;
		while (tws_clock() < until) {
			double left = until - tws_clock();

			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
		pause = pause * 2 > 1 ? 1 : pause * 2;
	}
}

void
tws_close(struct tws *t)
{
	int i;

	if (t == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t->conn_time);
	for (i = 0; i < t->naccounts; i++)
		free(t->accounts[i]);
	free(t->accounts);
	for (i = t->backhead; i < t->nback; i++)
		twsf_msg_free(&t->back[i]);
	free(t->back);
	twsm_msg_free(&t->cur);
	twsf_rd_free(&t->in);
	twsf_buf_free(&t->out);
	twsf_buf_free(&t->q);
	free(t);
}

int
tws_hostport(const char *s, char **buf, const char **host, const char **port)
{
	char *b, *c, *p;

	*buf = b = xstrdup(s);
	if (*b == '[') {
		c = strchr(b, ']');
		if (c == NULL || c[1] != ':')
			return -1;
		*c = '\0';
		*host = b + 1;
		p = c + 2;
	} else {
		c = strrchr(b, ':');
		if (c == NULL)
			return -1;
		*c = '\0';
		*host = *b ? b : "127.0.0.1";
		p = c + 1;
	}
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    strtol(p, NULL, 10) > 65535)
		return -1;
	*port = p;
	return 0;
}

int
tws_poll(struct tws *t, double deadline, struct twsm_msg **m)
{
	struct twsf_msg f;
	int rc;

	twsm_msg_free(&t->cur);
	for (;;) {
		if (t->backhead < t->nback) {
			f = t->back[t->backhead++];
			if (pump(t) == -1) {
				twsf_msg_free(&f);
				return -1;
			}
		} else {
			rc = read_frame(t, deadline, &f);
			if (rc <= 0)
				return rc;
		}
		rc = deliver(t, &f);
		if (rc == 1) {
			*m = &t->cur;
			return 1;
		}
		if (rc == -1)
			return -1;
	}
}

int
tws_flush(struct tws *t, double deadline)
{
	struct twsf_msg f;
	int rc;

	for (;;) {
		if (pump(t) == -1)
			return -1;
		while ((rc = twsf_frame(&t->in, &f)) == 1)
			backlog(t, &f);
		if (rc == -1) {
			seterr(&t->err, EX_PROTOCOL, 0,
			    "frame longer than 16 MiB: stream corrupt");
			return -1;
		}
		if (!tws_pending(t))
			return 1;
		if (t->eof) {
			eof_err(t);
			return -1;
		}
		rc = wait_io(t, deadline);
		if (rc <= 0)
			return rc;
	}
}

int
tws_pending(const struct tws *t)
{
	return t->q.len > 0 || t->out.len > 0;
}

void
tws_set_rate(struct tws *t, double rate, double burst)
{
	pump(t);	/* refill at the old rate up to now */
	t->rate = rate < 1 ? 1 : rate;
	t->burst = burst < 1 ? 1 : burst;
	if (t->tokens > t->burst)
		t->tokens = t->burst;
}

int
tws_discard(struct tws *t)
{
	const unsigned char *p;
	size_t n;
	int k = 0;

	/* Complete frames are q.p[0 .. q.start); an open one stays. */
	while (t->q.start >= 4) {
		p = (const unsigned char *)t->q.p;
		n = 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 |
		    (size_t)p[2] << 8 | p[3]);
		twsf_drop(&t->q, n);
		k++;
	}
	return k;
}

long long
tws_req_id(struct tws *t)
{
	return t->next_req_id++;
}

long long
tws_order_id(struct tws *t)
{
	return t->next_order_id++;
}

int
tws_has_account(const struct tws *t, const char *account)
{
	int i;

	for (i = 0; i < t->naccounts; i++)
		if (strcmp(t->accounts[i], account) == 0)
			return 1;
	return 0;
}

struct twsf_buf *
tws_queue(struct tws *t)
{
	return &t->q;
}

void
tws_req_current_time(struct tws *t)
{
	twsm_req_current_time(&t->q);
}

void
tws_req_ids(struct tws *t)
{
	twsm_req_ids(&t->q);
}

void
tws_req_market_data_type(struct tws *t, int type)
{
	twsm_req_market_data_type(&t->q, type);
}

long long
tws_req_positions_multi(struct tws *t, const char *account,
    const char *model_code)
{
	long long r = tws_req_id(t);

	twsm_req_positions_multi(&t->q, r, account, model_code);
	return r;
}

void
tws_cancel_positions_multi(struct tws *t, long long req_id)
{
	twsm_cancel_positions_multi(&t->q, req_id);
}

long long
tws_req_account_summary(struct tws *t, const char *group, const char *tags)
{
	long long r = tws_req_id(t);

	twsm_req_account_summary(&t->q, r, group, tags);
	return r;
}

void
tws_cancel_account_summary(struct tws *t, long long req_id)
{
	twsm_cancel_account_summary(&t->q, req_id);
}

long long
tws_req_account_updates_multi(struct tws *t, const char *account,
    const char *model_code, int ledger_and_nlv)
{
	long long r = tws_req_id(t);

	twsm_req_account_updates_multi(&t->q, r, account, model_code,
	    ledger_and_nlv);
	return r;
}

void
tws_cancel_account_updates_multi(struct tws *t, long long req_id)
{
	twsm_cancel_account_updates_multi(&t->q, req_id);
}

long long
tws_req_contract_data(struct tws *t, const struct twsm_contract *c)
{
	long long r = tws_req_id(t);

	twsm_req_contract_data(&t->q, r, c);
	return r;
}

long long
tws_req_mkt_data(struct tws *t, const struct twsm_contract *c, int snapshot)
{
	long long r = tws_req_id(t);

	twsm_req_mkt_data(&t->q, r, c, snapshot);
	return r;
}

void
tws_cancel_mkt_data(struct tws *t, long long req_id)
{
	twsm_cancel_mkt_data(&t->q, req_id);
}

long long
tws_place_order(struct tws *t, const struct twsm_order *o)
{
	struct twsm_order c = *o;

	if (c.order_id == 0)
		c.order_id = tws_order_id(t);
	twsm_place_order(&t->q, &c);
	return c.order_id;
}

void
tws_cancel_order(struct tws *t, long long order_id)
{
	twsm_cancel_order(&t->q, order_id, NULL);
}

void
tws_req_open_orders(struct tws *t)
{
	twsm_req_open_orders(&t->q);
}

void
tws_req_all_open_orders(struct tws *t)
{
	twsm_req_all_open_orders(&t->q);
}

long long
tws_req_executions(struct tws *t, const struct twsm_exec_filter *flt)
{
	long long r = tws_req_id(t);

	twsm_req_executions(&t->q, r, flt);
	return r;
}
