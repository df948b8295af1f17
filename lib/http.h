/* http: one HTTP(S) request over libcurl with headers, a total deadline and
 * bounded retries; TLS always verified, plain http only to loopback hosts. */
#ifndef REBAL_HTTP_H
#define REBAL_HTTP_H

#include <stddef.h>

enum {
	HTTP_OK,	/* a response was read (any status) */
	HTTP_EURL,	/* URL malformed, or not https nor http to loopback */
	HTTP_ECONN,	/* resolve, connect, send or receive failed */
	HTTP_ETIMEOUT,	/* the deadline passed */
	HTTP_ETLS,	/* certificate or TLS handshake failure */
	HTTP_ETOOBIG,	/* response body over HTTP_MAXBODY */
	HTTP_EOTHER
};

#define HTTP_MAXBODY (16L << 20)

struct http_req {
	const char *method;	/* "GET" (default), "POST", "PUT" */
	const char *url;
	const char *const *headers;	/* "Name: value" ..., NULL; may be NULL */
	const char *body;	/* request body (POST, PUT), LEN bytes */
	size_t len;
	double timeout;		/* seconds for all attempts together */
	int attempts;		/* tries on retryable failures, >= 1 */
	const char *what;	/* label for retry diagnostics; NULL: quiet */
	const char *secret;	/* masked in every diagnostic; may be NULL */
};

struct http_res {
	int err;		/* HTTP_OK or an HTTP_E* kind */
	long status;		/* HTTP status of the last response, 0: none */
	char *body;		/* last response body, NUL-terminated */
	size_t len;
	char *head;		/* its header lines, as received */
	int attempts;		/* tries made */
	double elapsed;		/* seconds spent */
	char msg[256];		/* what went wrong when err != HTTP_OK */
};

/* Run RQ, retrying connection failures and 5xx answers with exponential
 * backoff (0.5 s, 1 s, 2 s, ...) while attempts and the deadline allow; each
 * try gets the time left. No redirects are followed. Fills RES (free it with
 * http_res_free) and returns RES->err. */
int http_do(const struct http_req *rq, struct http_res *res);
void http_res_free(struct http_res *res);

/* 0 if URL may be used (https, or http to 127.0.0.0/8, ::1 or localhost);
 * else -1 and the reason in WHY. */
int http_url_check(const char *url, char *why, size_t n);

/* The value of response header NAME (case-insensitive), malloc'ed, or NULL. */
char *http_header(const struct http_res *res, const char *name);

/* The exit status a failed request stands for: 0 for a 2xx answer, 75 on
 * timeout, 77 for 401/403, 76 for an oversized body, 78 for a refused URL,
 * else 69 (unreachable, TLS, any other status). */
int http_exit(const struct http_res *res);

/* A one-line description of the outcome into BUF: "HTTP 500: message from
 * the body", "timed out after 2.0 s", "connection failed: ...". Every
 * occurrence of SECRET (if not NULL) is masked with asterisks. */
char *http_errmsg(const struct http_res *res, const char *secret, char *buf,
    size_t n);

/* Overwrite every occurrence of SECRET in S with as many '*'. */
void http_redact(char *s, const char *secret);

#endif
