/* tws_test: the client connection (lib/tws) against tiny in-test gateways
 * on a loopback socket, one forked process per scenario: handshake bytes,
 * version refusal, redirect, 326, a gateway that closes or goes silent
 * (deadline expiry), partial frames, unknown and empty frames, decode
 * errors, oversize frames, backlog of early messages, and pacing measured
 * on the server side from arrival times. TAP; exit 1 on failure. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <float.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tws.h"
#include "tap.h"

/* ---- the fake gateway (child side) ---- */

static int lfd = -1, sfd = -1;
static struct twsf_rd srd;
static int srv_bad;

static void __attribute__((format(printf, 1, 2)))
srv_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# server: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	srv_bad = 1;
}

static void
srv_accept(void)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, 10000) != 1 || (sfd = accept(lfd, NULL, NULL)) < 0) {
		srv_fail("no client");
		_exit(1);
	}
}

/* Read until N raw bytes or a frame is there; bounded. 1 ok, 0 EOF or
 * timeout. */
static int
srv_fill(int (*ready)(void *), void *arg)
{
	struct pollfd p = { .fd = sfd, .events = POLLIN };
	ssize_t n;

	while (!ready(arg)) {
		if (poll(&p, 1, 10000) != 1)
			return 0;
		n = twsf_read(&srd, sfd);
		if (n <= 0)
			return 0;
	}
	return 1;
}

static struct twsf_msg srv_m;
static int srv_rc;

static int
have_frame(void *arg)
{
	(void)arg;
	twsf_msg_free(&srv_m);
	srv_rc = twsf_frame(&srd, &srv_m);
	return srv_rc != 0;
}

static int
have_raw(void *arg)
{
	return srd.len - srd.off >= *(size_t *)arg;
}

/* The next frame as "a|b|c" (static), or NULL at EOF. */
static const char *
srv_next(void)
{
	static char out[8192];
	int i;

	if (!srv_fill(have_frame, NULL) || srv_rc != 1)
		return NULL;
	*out = '\0';
	for (i = 0; i < srv_m.n; i++) {
		if (i > 0)
			strcat(out, "|");
		strncat(out, srv_m.f[i], sizeof out - strlen(out) - 2);
	}
	return out;
}

static void
srv_expect(const char *want)
{
	const char *got = srv_next();

	if (got == NULL || strcmp(got, want) != 0)
		srv_fail("got \"%s\", want \"%s\"", got ? got : "(eof)", want);
}

static void
srv_raw(const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		w = send(sfd, s, n, MSG_NOSIGNAL);
		if (w <= 0) {
			srv_fail("send: %s", strerror(errno));
			return;
		}
		s += w;
		n -= w;
	}
}

/* Frame the '|'-separated SPEC into B. */
static void
frame_into(struct twsf_buf *b, const char *spec)
{
	const char *s, *e;

	twsf_begin(b);
	for (s = spec;; s = e + 1) {
		e = strchr(s, '|');
		if (e == NULL)
			e = s + strlen(s);
		twsf_raw(b, s, e - s);
		twsf_raw(b, "", 1);
		if (*e == '\0')
			break;
	}
	twsf_end(b);
}

static void
srv_send(const char *spec)
{
	struct twsf_buf b = {0};

	frame_into(&b, spec);
	srv_raw(b.p, b.len);
	twsf_buf_free(&b);
}

/* Greeting: exact bytes, then the reply VERSION. */
static void
srv_greet(const char *version)
{
	size_t four = 4;
	char api[4];
	char reply[64];

	if (!srv_fill(have_raw, &four) || !twsf_take(&srd, api, 4) ||
	    memcmp(api, "API", 4) != 0)
		srv_fail("no API\\0 prefix");
	srv_expect("v100..176");
	if (version == NULL)
		return;
	snprintf(reply, sizeof reply, "%s|20260105 09:30:00 EST", version);
	srv_send(reply);
}

static void
srv_ready(void)
{
	srv_greet("176");
	srv_expect("71|2|7|");
	srv_send("15|1|DU111,DU222,");
	srv_send("4|2|-1|2104|Market data farm connection is OK:usfarm|");
	srv_send("9|1|42");
}

/* Wait for the client to close. */
static void
srv_wait_eof(void)
{
	while (srv_next() != NULL)
		;
}

/* ---- harness (parent side) ---- */

static char port[16];

static pid_t
serve(void (*fn)(void))
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	pid_t pid;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
		perror("listen");
		exit(2);
	}
	snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
	fflush(stdout);
	if ((pid = fork()) == 0) {
		srv_accept();
		fn();
		if (sfd >= 0)
			close(sfd);
		_exit(srv_bad);
	}
	close(lfd);
	return pid;
}

static int
served(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static struct tws *
dial(double secs, struct tws_err *e)
{
	return tws_connect("127.0.0.1", port, 7, tws_clock() + secs, e);
}

/* ---- scenarios ---- */

static const char OPEN_ORDER[] =
    "5|12|265598|AAPL|STK||0|||SMART|USD|AAPL|NMS|BUY|100|LMT|150.25|0.0|"
    "DAY||DU111||0|rebal:e1:DU111|7|2126726143|0|0|0||||||||||||0||-1|0||"
    "||||2147483647|0|0|0||3|0|0||0|0||0|||0|0||||||0|0|0|2147483647|"
    "2147483647|||0||IB|0|0||0|0|Submitted|1.7976931348623157E308|"
    "1.7976931348623157E308|1.7976931348623157E308|"
    "1.7976931348623157E308|1.7976931348623157E308|"
    "1.7976931348623157E308|1.7976931348623157E308|"
    "1.7976931348623157E308|1.7976931348623157E308||||||0|0|0|None|"
    "1.7976931348623157E308|1.7976931348623157E308|"
    "1.7976931348623157E308|1.7976931348623157E308|"
    "1.7976931348623157E308|1.7976931348623157E308|0||||||1|0|0|0|||0|"
    "||||";

static void
srv_session(void)
{
	struct twsf_buf b = {0};
	const char *got;
	size_t half;

	srv_greet(NULL);
	srv_send("news|before|version");	/* ignored by the client */
	srv_send("176|20260105 09:30:00 EST");
	srv_expect("71|2|7|");
	srv_send("15|1|DU111,DU222,");
	srv_send("4|2|-1|2104|Market data farm connection is OK:usfarm|");
	srv_send("9|1|42");
	srv_expect("49|1");
	/* An unknown id and an empty frame, then half of CURRENT_TIME. */
	srv_send("99|1|zz");
	srv_raw("\0\0\0\0", 4);
	frame_into(&b, "49|1|1752606307");
	half = b.len / 2;
	srv_raw(b.p, half);
	/* The client's poll times out on the half frame, then it asks for
	 * ids; the rest of the frame follows. */
	srv_expect("8|1|1");
	srv_raw(b.p + half, b.len - half);
	twsf_buf_free(&b);
	got = srv_next();
	if (got == NULL || strncmp(got, "3|42|0|AAPL|STK|", 16) != 0 ||
	    srv_m.n != 115)
		srv_fail("PLACE_ORDER: %d fields: %s", srv_m.n, got);
	srv_send(OPEN_ORDER);
	srv_send("3|42|Submitted|0|100|0|2126726143|0|0|7||0");
	srv_expect("4|1|42|");
	srv_send("9|1");	/* NEXT_VALID_ID short of its id */
	srv_wait_eof();
}

static void
test_session(void)
{
	pid_t pid = serve(srv_session);
	struct tws_err e;
	struct tws *t = dial(10, &e);
	struct twsm_msg *m;
	struct twsm_order o = { .c = { .symbol = "AAPL" }, .action = "BUY",
	    .qty = 100, .type = "MKT", .account = "DU111",
	    .order_ref = "rebal:e1:DU111" };
	double dl;
	int rc;

	if (!ok(t != NULL, "connect: handshake, START_API, ready")) {
		printf("#   %d %s\n", e.status, e.msg);
		served(pid);
		return;
	}
	ok(t->server_version == 176 &&
	    strcmp(t->conn_time, "20260105 09:30:00 EST") == 0,
	    "server version 176 and connection time");
	ok(t->naccounts == 2 && strcmp(t->accounts[0], "DU111") == 0 &&
	    strcmp(t->accounts[1], "DU222") == 0 &&
	    tws_has_account(t, "DU222") && !tws_has_account(t, "DU333"),
	    "managed accounts, empty item dropped");
	ok(t->next_order_id == 42, "next valid id 42");
	dl = tws_clock() + 10;
	ok(tws_poll(t, dl, &m) == 1 && m->type == TWSM_ERROR &&
	    m->u.error.code == 2104 && m->u.error.cls == TWSM_INFO,
	    "farm notice from the connect wait handed out by tws_poll");
	tws_req_current_time(t);
	dl = tws_clock() + 0.3;
	rc = tws_poll(t, dl, &m);
	ok(rc == 0 && tws_clock() >= dl,
	    "half a frame: tws_poll returns 0 at the deadline");
	tws_req_ids(t);
	rc = tws_poll(t, tws_clock() + 10, &m);
	ok(rc == 1 && m->type == TWSM_CURRENT_TIME &&
	    m->u.current_time.time == 1752606307,
	    "unknown id and empty frame skipped; split frame joined");
	ok(tws_place_order(t, &o) == 42 && t->next_order_id == 43,
	    "place order takes id 42");
	rc = tws_poll(t, tws_clock() + 10, &m);
	ok(rc == 1 && m->type == TWSM_OPEN_ORDER && m->u.order.order_id == 12
	    && strcmp(m->u.order.status, "Submitted") == 0,
	    "OPEN_ORDER (\"None\" adjusted type, 128 fields)");
	rc = tws_poll(t, tws_clock() + 10, &m);
	ok(rc == 1 && m->type == TWSM_ORDER_STATUS &&
	    m->u.status.order_id == 42 && m->u.status.remaining == 100,
	    "ORDER_STATUS");
	tws_cancel_order(t, 42);
	rc = tws_poll(t, tws_clock() + 10, &m);
	ok(rc == -1 && t->err.status == 76 &&
	    strstr(t->err.msg, "NEXT_VALID_ID") != NULL,
	    "a message short of a field: protocol error 76");
	printf("#   %s\n", t->err.msg);
	tws_close(t);
	ok(served(pid), "gateway saw the expected requests");
}

static void srv_v175(void) { srv_greet("175"); srv_wait_eof(); }
static void srv_v178(void) { srv_greet("178"); srv_wait_eof(); }
static void srv_redirect(void) { srv_greet("-1"); srv_wait_eof(); }
static void srv_silent(void) { srv_greet(NULL); srv_wait_eof(); }
static void srv_close_at_start(void) { srv_greet("176"); srv_expect("71|2|7|"); }

static void
srv_326(void)
{
	srv_greet("176");
	srv_expect("71|2|7|");
	srv_send("4|2|-1|326|Unable to connect as the client id is already "
	    "in use. Retry with a unique client id.|");
}

/* 326 on the first connection, a normal session on the second. */
static void
srv_326_then_ok(void)
{
	srv_326();
	close(sfd);
	twsf_rd_free(&srd);
	srv_accept();
	srv_ready();
	srv_wait_eof();
}

/* 326 to every connection until none comes for a second. */
static void
srv_326_always(void)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int n = 1;

	for (;;) {
		srv_326();
		close(sfd);
		sfd = -1;
		twsf_rd_free(&srd);
		if (poll(&p, 1, 1000) != 1 || (sfd = accept(lfd, NULL, NULL)) < 0)
			break;
		n++;
	}
	if (n < 2)
		srv_fail("326 always: only %d connection", n);
}

static void
srv_ready_silent(void)
{
	srv_ready();
	srv_wait_eof();
}

static void
srv_oversize(void)
{
	srv_ready();
	srv_raw("\x01\0\0\0", 4);
	srv_wait_eof();
}

/* A frame cut short, then the close (ib-sim hostile: truncated). */
static void
srv_close_in_frame(void)
{
	srv_ready();
	srv_raw("\0\0\0\x0a" "49\0" "1\0", 6);
}

static void
srv_close_in_handshake(void)
{
	size_t four = 4;
	char api[4];

	if (!srv_fill(have_raw, &four) || !twsf_take(&srd, api, 4))
		srv_fail("no API\\0 prefix");
	srv_expect("v100..176");
	srv_raw("\0\0\0\x1a" "176\0" "2026", 12);
}

static void
srv_close_later(void)
{
	srv_ready();
	srv_expect("49|1");
	srv_send("49|1|5");
}

static void
test_failures(void)
{
	struct tws_err e;
	struct twsm_msg *m;
	struct tws *t;
	pid_t pid;
	double dl;

	pid = serve(srv_v175);
	t = dial(10, &e);
	ok(t == NULL && e.status == 76 && strstr(e.msg, "175"),
	    "server version 175 refused: 76");
	printf("#   %s\n", e.msg);
	ok(served(pid), "gateway 175 done");

	pid = serve(srv_v178);
	t = dial(10, &e);
	ok(t == NULL && e.status == 76, "server version 178 refused: 76");
	served(pid);

	pid = serve(srv_redirect);
	t = dial(10, &e);
	ok(t == NULL && e.status == 69, "redirect (-1) refused: 69");
	served(pid);

	pid = serve(srv_silent);
	dl = tws_clock() + 0.3;
	t = tws_connect("127.0.0.1", port, 7, dl, &e);
	ok(t == NULL && e.status == 75 && tws_clock() >= dl,
	    "silent gateway: connect gives up at the deadline, 75");
	printf("#   %s\n", e.msg);
	ok(served(pid), "silent gateway done");

	pid = serve(srv_326);
	t = dial(10, &e);
	ok(t == NULL && e.status == 75 && e.code == 326,
	    "client id in use: 326 reported distinctly, 75");
	printf("#   %s\n", e.msg);
	served(pid);

	pid = serve(srv_326_then_ok);
	t = tws_connect_retry("127.0.0.1", port, 7, tws_clock() + 10, &e);
	ok(t != NULL && t->next_order_id == 42,
	    "tws_connect_retry: 326, then connected on the next attempt");
	tws_close(t);
	ok(served(pid), "gateway saw two connections");

	pid = serve(srv_326_always);
	dl = tws_clock() + 0.5;
	t = tws_connect_retry("127.0.0.1", port, 7, dl, &e);
	ok(t == NULL && e.code == 326 && e.status == 75,
	    "tws_connect_retry: still 326 at the deadline: 75");
	ok(served(pid), "gateway saw the retries");

	pid = serve(srv_close_at_start);
	t = dial(10, &e);
	ok(t == NULL && e.status == 69, "gateway closes after START_API: 69");
	printf("#   %s\n", e.msg);
	served(pid);

	pid = serve(srv_ready_silent);
	t = dial(10, &e);
	ok(t != NULL, "connect to a gateway that then goes silent");
	if (t != NULL) {
		ok(tws_poll(t, tws_clock() + 10, &m) == 1 &&
		    m->type == TWSM_ERROR, "its farm notice");
		dl = tws_clock() + 0.2;
		ok(tws_poll(t, dl, &m) == 0 && tws_clock() >= dl,
		    "silent gateway: tws_poll returns 0 at the deadline");
		ok(tws_poll(t, 0, &m) == 0, "a past deadline: 0 at once");
		tws_close(t);
	}
	served(pid);

	pid = serve(srv_oversize);
	t = dial(10, &e);
	if (t != NULL) {
		tws_poll(t, tws_clock() + 10, &m);	/* the notice */
		ok(tws_poll(t, tws_clock() + 10, &m) == -1 &&
		    t->err.status == 76, "frame over 16 MiB: protocol error 76");
		tws_close(t);
	} else
		ok(0, "connect for oversize");
	served(pid);

	pid = serve(srv_close_in_frame);
	t = dial(10, &e);
	if (t != NULL) {
		tws_poll(t, tws_clock() + 10, &m);	/* the notice */
		ok(tws_poll(t, tws_clock() + 10, &m) == -1 &&
		    t->err.status == 76, "a close inside a frame: 76");
		printf("#   %s\n", t->err.msg);
		tws_close(t);
	} else
		ok(0, "connect for close inside a frame");
	served(pid);

	pid = serve(srv_close_in_handshake);
	t = dial(10, &e);
	ok(t == NULL && e.status == 76,
	    "a close inside the handshake reply: 76");
	printf("#   %s\n", e.msg);
	served(pid);

	pid = serve(srv_close_later);
	t = dial(10, &e);
	if (t != NULL) {
		tws_poll(t, tws_clock() + 10, &m);
		tws_req_current_time(t);
		ok(tws_poll(t, tws_clock() + 10, &m) == 1 &&
		    m->type == TWSM_CURRENT_TIME && m->u.current_time.time == 5,
		    "the last message before the close is delivered");
		ok(tws_poll(t, tws_clock() + 10, &m) == -1 &&
		    t->err.status == 69, "then the close: 69");
		tws_close(t);
	} else
		ok(0, "connect for close");
	served(pid);

	/* Nobody listening: a port just released. */
	pid = serve(srv_silent);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t = dial(10, &e);
	ok(t == NULL && e.status == 69, "connection refused: 69");
	printf("#   %s\n", e.msg);
}

/* Pacing: the server stamps each frame's arrival (CLOCK_MONOTONIC is
 * shared with the client, but only the server's stamps are used). */
#define NPACE 150

static void
srv_pacing(void)
{
	static double at[NPACE];
	int i, j, n = 0, max = 0;
	const char *got;

	srv_ready();
	while (n < NPACE && (got = srv_next()) != NULL) {
		if (strcmp(got, "49|1") != 0) {
			srv_fail("pacing: got %s", got);
			continue;
		}
		at[n++] = tws_clock();
		if (n == 10)
			srv_send("49|1|10");	/* arrives during the flush */
	}
	for (i = 0; i < n; i++) {
		for (j = i; j < n && at[j] - at[i] < 1.0; j++)
			;
		if (j - i > max)
			max = j - i;
	}
	fprintf(stderr, "# server: %d requests in %.2f s, at most %d in "
	    "any 1 s window\n", n, n ? at[n - 1] - at[0] : 0, max);
	if (n != NPACE || max > 50)
		srv_fail("pacing: %d frames, max %d per second", n, max);
	srv_wait_eof();
}

static void
test_pacing(void)
{
	pid_t pid = serve(srv_pacing);
	struct tws_err e;
	struct tws *t = dial(10, &e);
	struct twsm_msg *m;
	int i, rc;

	if (!ok(t != NULL, "connect for pacing")) {
		served(pid);
		return;
	}
	for (i = 0; i < NPACE; i++)
		tws_req_current_time(t);
	ok(tws_pending(t), "150 requests queued without blocking");
	rc = tws_flush(t, tws_clock() + 30);
	ok(rc == 1 && !tws_pending(t), "tws_flush writes them all (paced)");
	rc = tws_poll(t, tws_clock() + 10, &m);
	ok(rc == 1 && m->type == TWSM_ERROR, "notice kept through the flush");
	rc = tws_poll(t, tws_clock() + 10, &m);
	ok(rc == 1 && m->type == TWSM_CURRENT_TIME &&
	    m->u.current_time.time == 10,
	    "reply that arrived during the flush kept for tws_poll");
	tws_close(t);
	ok(served(pid), "server: no 1 s window over 50 messages");
}

/* A burst: START_API and TWS_WINDOW - 1 requests fill one window. */
static void
srv_burst(void)
{
	int n = 0;
	const char *got;

	srv_ready();
	while ((got = srv_next()) != NULL)
		if (strcmp(got, "49|1") == 0)
			n++;
	if (n != TWS_WINDOW - 1)
		srv_fail("burst: %d frames, want %d", n, TWS_WINDOW - 1);
}

static void
test_burst(void)
{
	pid_t pid = serve(srv_burst);
	struct tws_err e;
	struct tws *t = dial(10, &e);
	int i;

	if (!ok(t != NULL, "connect for a burst")) {
		served(pid);
		return;
	}
	for (i = 0; i < TWS_WINDOW - 1; i++)
		tws_req_current_time(t);
	/* A deadline already passed: only what needs no wait is written. */
	ok(tws_flush(t, tws_clock()) == 1 && !tws_pending(t),
	    "a window's worth of requests goes out at once");
	tws_req_current_time(t);
	ok(tws_flush(t, tws_clock()) == 0 && tws_pending(t),
	    "one more waits for the window");
	tws_close(t);
	ok(served(pid), "server: the burst arrived");
}

static void
test_hostport(void)
{
	char *buf;
	const char *h, *p;

	ok(tws_hostport("127.0.0.1:4002", &buf, &h, &p) == 0 &&
	    strcmp(h, "127.0.0.1") == 0 && strcmp(p, "4002") == 0,
	    "hostport 127.0.0.1:4002");
	free(buf);
	ok(tws_hostport("[::1]:7497", &buf, &h, &p) == 0 &&
	    strcmp(h, "::1") == 0 && strcmp(p, "7497") == 0, "hostport [::1]");
	free(buf);
	ok(tws_hostport(":4001", &buf, &h, &p) == 0 &&
	    strcmp(h, "127.0.0.1") == 0, "hostport :4001 is loopback");
	free(buf);
	ok(tws_hostport("gw", &buf, &h, &p) == -1, "hostport without port");
	free(buf);
	ok(tws_hostport("gw:99999", &buf, &h, &p) == -1, "hostport 99999");
	free(buf);
	ok(tws_hostport("gw:4x", &buf, &h, &p) == -1, "hostport 4x");
	free(buf);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_hostport();
	test_session();
	test_failures();
	test_pacing();
	test_burst();
	return tap_done();
}
