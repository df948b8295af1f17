/* http: libcurl requests with a deadline, bounded retries and a strict URL
 * policy (TLS verified; plain http only to loopback). */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jv.h>

#include "diag.h"
#include "http.h"
#include "jvx.h"

static CURL *easy;

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
http_cleanup(void)
{
	if (easy != NULL)
		curl_easy_cleanup(easy);
	easy = NULL;
	curl_global_cleanup();
}

static CURL *
handle(void)
{
	if (easy == NULL) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			die(EX_SOFTWARE, "curl_global_init failed");
		if ((easy = curl_easy_init()) == NULL)
			die(EX_SOFTWARE, "curl_easy_init failed");
		atexit(http_cleanup);
	} else
		curl_easy_reset(easy);	/* keeps the connection cache */
	return easy;
}

static int
loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof buf && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

/* 1 https, 0 plain http to loopback, -1 refused (WHY set). */
static int
classify(const char *url, char *why, size_t n)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int r = -1;

	if ((u = curl_url()) == NULL)
		die(EX_SOFTWARE, "curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		snprintf(why, n, "malformed URL");
	else if (strcasecmp(scheme, "https") == 0)
		r = 1;
	else if (strcasecmp(scheme, "http") != 0)
		snprintf(why, n, "scheme %s: only https is allowed", scheme);
	else if (!loopback(host))
		snprintf(why, n, "plain http is allowed only to a loopback "
		    "address; use https");
	else
		r = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

int
http_url_check(const char *url, char *why, size_t n)
{
	return classify(url, why, n) < 0 ? -1 : 0;
}

struct sink {
	char *p;
	size_t len, cap;
	int toobig;
};

static int
sink_add(struct sink *s, const char *d, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		while (s->len + n + 1 > s->cap)
			s->cap = s->cap ? s->cap * 2 : 1024;
		s->p = xrealloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, d, n);
	s->len += n;
	s->p[s->len] = '\0';
	return 0;
}

static size_t
on_body(char *d, size_t sz, size_t nm, void *ctx)
{
	struct sink *s = ctx;

	if (s->len + nm > (size_t)HTTP_MAXBODY) {
		s->toobig = 1;
		return 0;
	}
	sink_add(s, d, nm);
	(void)sz;
	return nm;
}

static size_t
on_head(char *d, size_t sz, size_t nm, void *ctx)
{
	struct sink *s = ctx;

	/* a new status line (after 100 Continue): keep only the last block */
	if (nm >= 5 && strncmp(d, "HTTP/", 5) == 0)
		s->len = 0;
	if (s->len + nm > 65536)
		return nm;
	sink_add(s, d, nm);
	(void)sz;
	return nm;
}

static void
once(const struct http_req *rq, int plain, double left, struct http_res *res)
{
	CURL *c = handle();
	struct curl_slist *hl = NULL;
	struct sink body = { 0 }, head = { 0 };
	char ebuf[CURL_ERROR_SIZE] = "";
	const char *method = rq->method ? rq->method : "GET";
	const char *const *h;
	long ms = (long)ceil(left * 1000);
	CURLcode cc;

	for (h = rq->headers; h != NULL && *h != NULL; h++)
		hl = curl_slist_append(hl, *h);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, progname);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
	if (plain)	/* never hand a loopback request to a proxy */
		curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS,
		    rq->body ? rq->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(rq->body ? rq->len : 0));
	}
	cc = curl_easy_perform(c);
	curl_slist_free_all(hl);

	free(res->body);
	free(res->head);
	res->body = body.p ? body.p : xstrdup("");
	res->len = body.len;
	res->head = head.p ? head.p : xstrdup("");
	res->status = 0;
	res->msg[0] = '\0';
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
	switch (cc) {
	case CURLE_OK:
		res->err = HTTP_OK;
		return;
	case CURLE_OPERATION_TIMEDOUT:
		res->err = HTTP_ETIMEOUT;
		break;
	case CURLE_WRITE_ERROR:
		res->err = body.toobig ? HTTP_ETOOBIG : HTTP_EOTHER;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		res->err = HTTP_ECONN;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		res->err = HTTP_ETLS;
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		res->err = HTTP_EURL;
		break;
	default:
		res->err = HTTP_EOTHER;
	}
	snprintf(res->msg, sizeof res->msg, "%s",
	    ebuf[0] ? ebuf : curl_easy_strerror(cc));
	if (res->err != HTTP_ETIMEOUT)
		res->status = 0;
}

static int
retryable(const struct http_res *res)
{
	return res->err == HTTP_ECONN ||
	    (res->err == HTTP_OK && res->status >= 500 && res->status <= 599);
}

int
http_do(const struct http_req *rq, struct http_res *res)
{
	double start = mono(), deadline, wait = 0.5, left;
	int plain, max = rq->attempts > 0 ? rq->attempts : 1;
	char why[128], m[320];

	memset(res, 0, sizeof *res);
	deadline = start + (rq->timeout > 0 ? rq->timeout : 30);
	if ((plain = classify(rq->url, why, sizeof why)) < 0) {
		res->err = HTTP_EURL;
		snprintf(res->msg, sizeof res->msg, "%s", why);
		res->body = xstrdup("");
		res->head = xstrdup("");
		return res->err;
	}
	for (;;) {
		res->attempts++;
		once(rq, plain == 0, deadline - mono(), res);
		if (!retryable(res) || res->attempts >= max)
			break;
		left = deadline - mono();
		if (left <= wait)
			break;
		if (rq->what != NULL)
			warnx("%s: attempt %d of %d: %s; retrying in %.1f s",
			    rq->what, res->attempts, max,
			    http_errmsg(res, rq->secret, m, sizeof m), wait);
		poll(NULL, 0, (int)(wait * 1000));
		wait *= 2;
	}
	res->elapsed = mono() - start;
	return res->err;
}

void
http_res_free(struct http_res *res)
{
	free(res->body);
	free(res->head);
	res->body = res->head = NULL;
}

char *
http_header(const struct http_res *res, const char *name)
{
	const char *p = res->head, *e, *v;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > n && p[n] == ':' &&
		    strncasecmp(p, name, n) == 0) {
			v = p + n + 1;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && isspace((unsigned char)e[-1]))
				e--;
			return strndup(v, (size_t)(e - v));
		}
		p = *e ? e + 1 : e;
	}
	return NULL;
}

int
http_exit(const struct http_res *res)
{
	switch (res->err) {
	case HTTP_OK:
		if (res->status >= 200 && res->status <= 299)
			return 0;
		if (res->status == 401 || res->status == 403)
			return EX_NOPERM;
		return EX_UNAVAILABLE;
	case HTTP_ETIMEOUT:
		return EX_TEMPFAIL;
	case HTTP_ETOOBIG:
		return EX_PROTOCOL;
	case HTTP_EURL:
		return EX_CONFIG;
	default:
		return EX_UNAVAILABLE;
	}
}

void
http_redact(char *s, const char *secret)
{
	size_t n;
	char *p;

	if (s == NULL || secret == NULL || (n = strlen(secret)) == 0)
		return;
	while ((p = strstr(s, secret)) != NULL)
		memset(p, '*', n);
}

/* The human message of an error body: .message, .error (string or
 * .error.message), .detail; else the body text, trimmed. SECRET is masked in
 * the body before anything is taken from it. */
static void
body_message(const struct http_res *res, const char *secret, char *buf,
    size_t n)
{
	static const char *keys[] = { "message", "error", "detail", NULL };
	char *b = xmalloc(res->len + 1), *p;
	size_t i, j, sn = secret ? strlen(secret) : 0;
	const char **k;
	jv v, f;

	memcpy(b, res->body, res->len);
	b[res->len] = '\0';
	if (sn > 0)
		for (p = b; (p = memmem(p, res->len - (size_t)(p - b), secret,
		    sn)) != NULL; p += sn)
			memset(p, '*', sn);
	buf[0] = '\0';
	v = jvx_parse(b, (int)res->len);	/* no libjq 1.6 leak on garbage */
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		for (k = keys; *k != NULL && buf[0] == '\0'; k++) {
			f = jv_object_get(jv_copy(v), jv_string(*k));
			if (jv_get_kind(f) == JV_KIND_OBJECT)
				f = jv_object_get(f, jv_string("message"));
			if (jv_get_kind(f) == JV_KIND_STRING)
				snprintf(buf, n, "%s", jv_string_value(f));
			jv_free(f);
		}
	}
	jv_free(v);
	if (buf[0] == '\0') {
		for (i = j = 0; i < res->len && j + 4 < n && j < 200; i++) {
			unsigned char ch = (unsigned char)b[i];
			if (ch == '\n' || ch == '\r' || ch == '\t')
				ch = ' ';
			if (ch < 0x20 || ch == 0x7f)
				ch = '?';
			if (ch == ' ' && (j == 0 || buf[j - 1] == ' '))
				continue;
			buf[j++] = (char)ch;
		}
		if (i < res->len && j + 4 < n)
			buf[j++] = '.', buf[j++] = '.', buf[j++] = '.';
		buf[j] = '\0';
	}
	free(b);
	/* one line of text: the body is not ours */
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
}

char *
http_errmsg(const struct http_res *res, const char *secret, char *buf,
    size_t n)
{
	char bm[256];

	switch (res->err) {
	case HTTP_OK:
		body_message(res, secret, bm, sizeof bm);
		if (bm[0] != '\0')
			snprintf(buf, n, "HTTP %ld: %s", res->status, bm);
		else
			snprintf(buf, n, "HTTP %ld", res->status);
		break;
	case HTTP_ETIMEOUT:
		snprintf(buf, n, "timed out after %.1f s (%d attempt%s)",
		    res->elapsed, res->attempts, res->attempts == 1 ? "" : "s");
		break;
	case HTTP_ECONN:
		snprintf(buf, n, "connection failed: %s", res->msg);
		break;
	case HTTP_ETLS:
		snprintf(buf, n, "TLS failure: %s", res->msg);
		break;
	case HTTP_ETOOBIG:
		snprintf(buf, n, "response larger than %ld bytes",
		    (long)HTTP_MAXBODY);
		break;
	case HTTP_EURL:
		snprintf(buf, n, "refused URL: %s", res->msg);
		break;
	default:
		snprintf(buf, n, "request failed: %s", res->msg);
	}
	http_redact(buf, secret);
	return buf;
}
