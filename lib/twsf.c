/* twsf: TWS wire framing and field encoding (tws-protocol.md section 1). */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "twsf.h"

static void
reserve(struct twsf_buf *b, size_t n)
{
	size_t cap;

	if (b->len + n <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void
twsf_raw(struct twsf_buf *b, const void *p, size_t n)
{
	reserve(b, n);
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
twsf_begin(struct twsf_buf *b)
{
	b->start = b->len;
	twsf_raw(b, "\0\0\0\0", 4);
}

void
twsf_end(struct twsf_buf *b)
{
	size_t n = b->len - b->start - 4;
	unsigned char *q = (unsigned char *)b->p + b->start;

	q[0] = n >> 24 & 0xff;
	q[1] = n >> 16 & 0xff;
	q[2] = n >> 8 & 0xff;
	q[3] = n & 0xff;
	b->start = b->len;
}

void
twsf_drop(struct twsf_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = b->start = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->start = b->start > n ? b->start - n : 0;
}

void
twsf_buf_free(struct twsf_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

void
twsf_str(struct twsf_buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	twsf_raw(b, s, strlen(s) + 1);
}

void
twsf_int(struct twsf_buf *b, long long v)
{
	char s[32];

	snprintf(s, sizeof s, "%lld", v);
	twsf_str(b, s);
}

void
twsf_int_max(struct twsf_buf *b, long long v)
{
	if (v == TWSF_UNSET_INT)
		twsf_str(b, "");
	else
		twsf_int(b, v);
}

/* The decimal point is '.' whatever LC_NUMERIC says. */
static void
fixpoint(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == ',')
			*s = '.';
}

static double
rd(const char *s)
{
	return strtod(s, NULL);
}

static void
fmt_dbl(char *s, size_t n, double v)
{
	double a = fabs(v);
	int k;

	if (isnan(v)) {
		*s = '\0';
		return;
	}
	if (isinf(v)) {
		snprintf(s, n, "%s", v < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (v == 0) {
		snprintf(s, n, "0");
		return;
	}
	if (a >= 1e-9 && a < 1e15) {
		for (k = 0; k <= 30; k++) {
			snprintf(s, n, "%.*f", k, v);
			fixpoint(s);
			if (rd(s) == v)
				return;
		}
	}
	for (k = 1; k <= 17; k++) {
		snprintf(s, n, "%.*g", k, v);
		fixpoint(s);
		if (rd(s) == v)
			return;
	}
}

void
twsf_dbl(struct twsf_buf *b, double v)
{
	char s[64];

	fmt_dbl(s, sizeof s, v);
	twsf_str(b, s);
}

void
twsf_dbl_max(struct twsf_buf *b, double v)
{
	if (v == DBL_MAX)
		twsf_str(b, "");
	else
		twsf_dbl(b, v);
}

void
twsf_dec(struct twsf_buf *b, double v)
{
	twsf_dbl_max(b, v);
}

void
twsf_bool(struct twsf_buf *b, int v)
{
	twsf_str(b, v ? "1" : "0");
}

/* Reader. */

void
twsf_feed(struct twsf_rd *r, const void *data, size_t n)
{
	size_t cap;

	if (r->off > 0 && (r->off == r->len || r->len + n > r->cap)) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len + n > r->cap) {
		cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n)
			cap *= 2;
		r->buf = xrealloc(r->buf, cap);
		r->cap = cap;
	}
	if (n > 0)
		memcpy(r->buf + r->len, data, n);
	r->len += n;
}

ssize_t
twsf_read(struct twsf_rd *r, int fd)
{
	char tmp[65536];
	ssize_t n;

	n = read(fd, tmp, sizeof tmp);
	if (n > 0)
		twsf_feed(r, tmp, n);
	return n;
}

int
twsf_take(struct twsf_rd *r, void *out, size_t n)
{
	if (r->len - r->off < n)
		return 0;
	memcpy(out, r->buf + r->off, n);
	r->off += n;
	return 1;
}

void
twsf_rd_free(struct twsf_rd *r)
{
	free(r->buf);
	memset(r, 0, sizeof *r);
}

int
twsf_frame(struct twsf_rd *r, struct twsf_msg *m)
{
	const unsigned char *q;
	size_t n, i, nf;
	char *s, **f;

	m->f = NULL;
	m->n = m->i = 0;
	if (r->len - r->off < 4)
		return 0;
	q = (const unsigned char *)r->buf + r->off;
	n = (size_t)q[0] << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
	if (n > TWSF_MAX_FRAME)
		return -1;
	if (r->len - r->off - 4 < n)
		return 0;
	q += 4;
	nf = 0;
	for (i = 0; i < n; i++)
		if (q[i] == '\0')
			nf++;
	if (n > 0 && q[n - 1] != '\0')
		nf++;		/* a last field without its NUL */
	/* One block: the pointer array, then the payload plus a final NUL. */
	f = xmalloc((nf + 1) * sizeof *f + n + 1);
	s = (char *)(f + nf + 1);
	memcpy(s, q, n);
	s[n] = '\0';
	m->n = 0;
	for (i = 0; i < n; i += strlen(s + i) + 1)
		f[m->n++] = s + i;
	f[m->n] = NULL;
	m->f = f;
	r->off += 4 + n;
	if (r->off == r->len)
		r->off = r->len = 0;
	return 1;
}

void
twsf_msg_free(struct twsf_msg *m)
{
	free(m->f);
	m->f = NULL;
	m->n = m->i = 0;
}

const char *
twsf_next(struct twsf_msg *m)
{
	if (m->i >= m->n)
		return NULL;
	return m->f[m->i++];
}

int
twsf_left(const struct twsf_msg *m)
{
	return m->n - m->i;
}

int
twsf_skip(struct twsf_msg *m, int n)
{
	if (n < 0 || m->n - m->i < n) {
		m->i = m->n;
		return -1;
	}
	m->i += n;
	return 0;
}

int
twsf_get_str(struct twsf_msg *m, const char **s)
{
	const char *t = twsf_next(m);

	if (t == NULL)
		return -1;
	*s = t;
	return 0;
}

static int
parse_ll(const char *s, long long *v)
{
	char *end;

	if (*s == '\0' || *s == ' ' || *s == '\t')
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
parse_dbl(const char *s, double *v)
{
	char *end;

	if (*s == '\0' || *s == ' ' || *s == '\t')
		return -1;
	*v = strtod(s, &end);
	if (*end != '\0')
		return -1;
	/* Overflow past DBL_MAX (a sentinel written with extra digits). */
	if (isinf(*v) && strchr(s, 'e') == NULL && strchr(s, 'E') == NULL)
		return 0;	/* "Infinity" */
	if (isinf(*v))
		*v = *v > 0 ? DBL_MAX : -DBL_MAX;
	return 0;
}

int
twsf_get_int(struct twsf_msg *m, long long *v)
{
	const char *s = twsf_next(m);

	if (s == NULL)
		return -1;
	if (*s == '\0') {
		*v = 0;
		return 0;
	}
	return parse_ll(s, v);
}

int
twsf_get_int_max(struct twsf_msg *m, long long *v)
{
	const char *s = twsf_next(m);

	if (s == NULL)
		return -1;
	if (*s == '\0') {
		*v = TWSF_UNSET_INT;
		return 0;
	}
	return parse_ll(s, v);
}

int
twsf_get_bool(struct twsf_msg *m, int *v)
{
	long long x;

	if (twsf_get_int(m, &x) == -1)
		return -1;
	*v = x != 0;
	return 0;
}

int
twsf_get_dbl(struct twsf_msg *m, double *v)
{
	const char *s = twsf_next(m);

	if (s == NULL)
		return -1;
	if (*s == '\0') {
		*v = 0;
		return 0;
	}
	return parse_dbl(s, v);
}

int
twsf_get_dbl_max(struct twsf_msg *m, double *v)
{
	const char *s = twsf_next(m);

	if (s == NULL)
		return -1;
	if (*s == '\0') {
		*v = DBL_MAX;
		return 0;
	}
	return parse_dbl(s, v);
}

int
twsf_get_dec(struct twsf_msg *m, double *v)
{
	const char *s = twsf_next(m);

	if (s == NULL)
		return -1;
	if (*s == '\0' || strcmp(s, "9223372036854775807") == 0 ||
	    strcmp(s, "-9223372036854775808") == 0) {
		*v = DBL_MAX;
		return 0;
	}
	return parse_dbl(s, v);
}
