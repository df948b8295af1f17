/* tws: a TWS API client connection (tws-protocol.md 1.2-1.4, 5.3, 7): connect
 * with a deadline, handshake at server version 176, an event loop that
 * returns one decoded message at a time, paced sends, request ids.
 *
 * A tool does:
 *
 *	struct tws_err e;
 *	struct tws *t = tws_connect(host, port, client_id,
 *	    tws_clock() + 10, &e);
 *	if (t == NULL)			// e.status: 69, 75 (e.code 326: retry), 76
 *		die(e.status, "%s", e.msg);
 *	long long r = tws_req_account_summary(t, "All", "NetLiquidation");
 *	double dl = tws_clock() + 10;
 *	struct twsm_msg *m;
 *	for (;;) {
 *		int rc = tws_poll(t, dl, &m);
 *		if (rc == 0)		// deadline: 75
 *			die(EX_TEMPFAIL, "gateway timed out");
 *		if (rc < 0)		// t->err.status: 69 closed, 76 protocol
 *			die(t->err.status, "%s", t->err.msg);
 *		if (m->type == TWSM_ACCOUNT_SUMMARY && m->u.value.req_id == r)
 *			...;
 *		else if (m->type == TWSM_ACCOUNT_SUMMARY_END &&
 *		    m->u.end.req_id == r)
 *			break;
 *		else if (m->type == TWSM_ERROR && m->u.error.id == r)
 *			...;
 *	}
 *	tws_close(t);
 *
 * Sends never block and never sleep: tws_req_* and the other senders queue
 * one frame; tws_poll (and tws_flush) write queued frames while they wait:
 * a burst of up to TWS_BURST at once, then TWS_RATE per second (a token
 * bucket), and never more than TWS_WINDOW in any TWS_WINDOW_SECS (a sliding
 * window over the last sends), so that no 1 s window holds 50 messages even
 * when arrival times jitter by up to 0.1 s. A tool's whole first round of
 * requests (a snapshot asks about 30) thus goes out at once instead of
 * trickling at the sustained rate. Deadlines are absolute times on
 * tws_clock() (CLOCK_MONOTONIC seconds). */
#ifndef REBAL_TWS_H
#define REBAL_TWS_H

#include "twsf.h"
#include "twsm.h"

#define TWS_RATE	40.0	/* messages per second, sustained */
#define TWS_BURST	45.0	/* messages sent back to back at most */
#define TWS_WINDOW	45	/* messages in any TWS_WINDOW_SECS at most */
#define TWS_WINDOW_SECS	1.1
#define TWS_REQ_BASE	1000000000LL	/* first request id (order ids are a
					 * separate, small-numbered space) */

struct tws_err {
	int status;	/* sysexits: 69 unavailable, 75 timeout or retry,
			 * 76 protocol */
	int code;	/* the IB error code when there is one (326), else 0 */
	char msg[256];
};

struct tws {
	/* Read only for callers. */
	int fd;
	int client_id;
	int server_version;
	char *conn_time;	/* the gateway's "yyyymmdd hh:mm:ss zone" */
	char **accounts;	/* MANAGED_ACCTS, kept current */
	int naccounts;
	long long next_order_id;	/* the next id tws_order_id gives */
	struct tws_err err;	/* after tws_poll or tws_flush returned -1 */
	/* Private. */
	long long next_req_id;
	struct twsf_rd in;
	struct twsf_buf out;	/* bytes released for writing */
	struct twsf_buf q;	/* frames waiting for a pacing token */
	double tokens, refill;	/* token bucket; time of the last refill */
	double sent[TWS_WINDOW];	/* times of the last sends, a ring; */
	int sentpos;			/* sent[sentpos] is the oldest */
	struct twsf_msg *back;	/* frames read while not asked for */
	int nback, backcap, backhead;
	struct twsm_msg cur;	/* what the last tws_poll returned */
	int eof, have_id, have_accts;
	double rate, burst;
};

double tws_clock(void);

/* Connect to HOST:PORT (a name or address; PORT decimal), handshake, START_API
 * with CLIENT_ID, and wait for NEXT_VALID_ID and MANAGED_ACCTS, all before
 * DEADLINE. NULL on failure, with *E set: 69 (refused, unreachable, or the
 * gateway closed the socket: not logged in or not trusted), 75 (deadline;
 * or code 326: the client id is in use, retry shortly), 76 (server version
 * not 176, a malformed reply, or a close inside a frame). Messages that arrive during the wait
 * (farm notices, replayed orders) are handed out by tws_poll later. */
struct tws *tws_connect(const char *host, const char *port, int client_id,
    double deadline, struct tws_err *e);
/* tws_connect, retried while the gateway answers 326 (the client id is
 * still held by the previous tool's closing socket, DESIGN 5), waiting
 * 0.1 s, 0.2 s, ... up to 1 s between attempts, until DEADLINE; the first
 * retry is said on stderr (warnx). */
struct tws *tws_connect_retry(const char *host, const char *port,
    int client_id, double deadline, struct tws_err *e);
/* Parse "HOST:PORT" ("[v6addr]:PORT" too) as for -H. -1 when malformed.
 * HOST and PORT point into BUF (a copy the caller frees). */
int tws_hostport(const char *s, char **buf, const char **host,
    const char **port);
void tws_close(struct tws *t);

/* Wait until a message is there or DEADLINE passes, writing queued frames
 * meanwhile. 1: *M is the message (valid until the next tws_poll or
 * tws_close; unknown message ids are skipped); 0: the deadline passed;
 * -1: t->err says why (69 the gateway closed the connection, 74 a socket
 * error, 76 a frame over 16 MiB, a close inside a frame, or a message with
 * missing or malformed fields). NEXT_VALID_ID and MANAGED_ACCTS update the fields above before
 * they are returned. */
int tws_poll(struct tws *t, double deadline, struct twsm_msg **m);
/* Write every queued frame (paced) before DEADLINE, keeping what arrives
 * meanwhile for tws_poll. 1 done, 0 deadline, -1 error as tws_poll. */
int tws_flush(struct tws *t, double deadline);
/* Frames still queued or unwritten. */
int tws_pending(const struct tws *t);
/* Change the pacing to RATE messages per second after a burst of BURST
 * (both at least 1 message; rates below 1 per second are raised to it):
 * for a gateway that answered 100 (pacing violation). */
void tws_set_rate(struct tws *t, double rate, double burst);
/* Drop the frames still waiting for a pacing token (never a frame partly
 * written); returns how many. After a 100 the caller re-sends what it
 * still needs, at the lower rate. */
int tws_discard(struct tws *t);

/* Ids. Request ids (market data, contracts, summaries) and order ids are
 * separate spaces; an ERR_MSG id may be either. */
long long tws_req_id(struct tws *t);
long long tws_order_id(struct tws *t);
int tws_has_account(const struct tws *t, const char *account);

/* Senders: queue one request. Those that need a request id allocate it and
 * return it. */
void tws_req_current_time(struct tws *t);
void tws_req_ids(struct tws *t);
void tws_req_market_data_type(struct tws *t, int type);
long long tws_req_positions_multi(struct tws *t, const char *account,
    const char *model_code);
void tws_cancel_positions_multi(struct tws *t, long long req_id);
long long tws_req_account_summary(struct tws *t, const char *group,
    const char *tags);
void tws_cancel_account_summary(struct tws *t, long long req_id);
long long tws_req_account_updates_multi(struct tws *t, const char *account,
    const char *model_code, int ledger_and_nlv);
void tws_cancel_account_updates_multi(struct tws *t, long long req_id);
long long tws_req_contract_data(struct tws *t, const struct twsm_contract *c);
long long tws_req_mkt_data(struct tws *t, const struct twsm_contract *c,
    int snapshot);
void tws_cancel_mkt_data(struct tws *t, long long req_id);
/* O->order_id 0: the next order id is taken. Returns the order id. */
long long tws_place_order(struct tws *t, const struct twsm_order *o);
void tws_cancel_order(struct tws *t, long long order_id);
void tws_req_open_orders(struct tws *t);
void tws_req_all_open_orders(struct tws *t);
long long tws_req_executions(struct tws *t, const struct twsm_exec_filter *f);
/* Queue a frame built by hand (twsf_begin ... twsf_end into tws_queue(t)):
 * for anything not covered above. */
struct twsf_buf *tws_queue(struct tws *t);

#endif
