/* twsf: TWS wire framing (tws-protocol.md section 1): a 4-byte big-endian
 * length, then NUL-terminated text fields; an incremental reader that
 * survives split and coalesced frames; field writers and readers that map
 * the unset sentinels (INT_MAX, DBL_MAX) to and from "".
 *
 * Writer: zero a struct twsf_buf, then per frame twsf_begin, fields, twsf_end.
 * Several frames may sit in one buffer; write b->p[0..len) and twsf_drop what
 * went out. twsf_raw appends bytes as they are (the "API\0" greeting, or the
 * NUL-less version string inside a begin/end pair).
 *
 * Reader: zero a struct twsf_rd, twsf_feed (or twsf_read from a descriptor)
 * whatever arrived, then call twsf_frame until it returns 0. Each frame comes
 * back as a struct twsf_msg, an array of fields read in order with twsf_next
 * and the twsf_get_* helpers (0 ok, -1 when the field is missing or malformed;
 * a missing field is a decode error for that message).
 *
 * Additions to the planned API (nothing removed or renamed): twsf_rd.off,
 * twsf_read, twsf_take, twsf_drop, twsf_buf_free, twsf_rd_free, twsf_dec,
 * twsf_get_str, twsf_get_bool, twsf_get_dec, twsf_skip, twsf_left. */
#ifndef REBAL_TWSF_H
#define REBAL_TWSF_H

#include <stddef.h>
#include <sys/types.h>

#define TWSF_MAX_FRAME	0xFFFFFF	/* longer frames are corrupt (16 MiB - 1) */
#define TWSF_UNSET_INT	2147483647LL	/* UNSET_INTEGER */
/* UNSET_DOUBLE is DBL_MAX (<float.h>). */

/* Outgoing frames. start is the offset of the open frame's length prefix. */
struct twsf_buf {
	char *p;
	size_t len, cap;
	size_t start;
};

void twsf_begin(struct twsf_buf *b);		/* reserve the 4-byte length */
void twsf_str(struct twsf_buf *b, const char *s);	/* NULL -> "" */
void twsf_int(struct twsf_buf *b, long long v);
void twsf_int_max(struct twsf_buf *b, long long v);	/* INT_MAX -> "" */
/* Shortest decimal that reads back to V; plain notation (no exponent) for
 * magnitudes from 1e-9 to 1e15 and for 0; DBL_MAX as 1.7976931348623157e+308,
 * infinities as "Infinity"/"-Infinity", NaN as "". Always '.' as the point. */
void twsf_dbl(struct twsf_buf *b, double v);
void twsf_dbl_max(struct twsf_buf *b, double v);	/* DBL_MAX -> "" */
/* A decimal quantity (server version >= 163): like twsf_dbl, DBL_MAX -> "". */
void twsf_dec(struct twsf_buf *b, double v);
void twsf_bool(struct twsf_buf *b, int v);		/* "1" / "0" */
void twsf_raw(struct twsf_buf *b, const void *p, size_t n);
void twsf_end(struct twsf_buf *b);			/* patch the length */
void twsf_drop(struct twsf_buf *b, size_t n);	/* remove the first N bytes */
void twsf_buf_free(struct twsf_buf *b);

/* Incoming bytes; buf[off..len) is not consumed yet. */
struct twsf_rd {
	char *buf;
	size_t len, cap;
	size_t off;
};

void twsf_feed(struct twsf_rd *r, const void *data, size_t n);
/* One read(2) from FD into the reader: its result (0 at end of file, -1 with
 * errno on error, EAGAIN included). */
ssize_t twsf_read(struct twsf_rd *r, int fd);
/* Take exactly N raw (unframed) bytes into OUT: 1 done, 0 not there yet. */
int twsf_take(struct twsf_rd *r, void *out, size_t n);
void twsf_rd_free(struct twsf_rd *r);

/* One frame split into fields f[0..n); i is the next field to read. A
 * zero-length frame has n = 0. A last field without its NUL is accepted as
 * a field (the handshake's version string has none). */
struct twsf_msg {
	char **f;
	int n, i;
};

/* 1 frame ready in *M (free it with twsf_msg_free), 0 need more bytes, -1 the
 * length prefix says more than TWSF_MAX_FRAME (the stream is unusable). */
int twsf_frame(struct twsf_rd *r, struct twsf_msg *m);
void twsf_msg_free(struct twsf_msg *m);

const char *twsf_next(struct twsf_msg *m);	/* NULL when missing */
int twsf_left(const struct twsf_msg *m);	/* fields not read yet */
int twsf_skip(struct twsf_msg *m, int n);	/* -1 when fewer than N left */
int twsf_get_str(struct twsf_msg *m, const char **s);
int twsf_get_int(struct twsf_msg *m, long long *v);	/* "" -> 0 */
int twsf_get_int_max(struct twsf_msg *m, long long *v);	/* "" -> INT_MAX */
int twsf_get_bool(struct twsf_msg *m, int *v);	/* "" -> 0, non-zero -> 1 */
int twsf_get_dbl(struct twsf_msg *m, double *v);	/* "" -> 0 */
int twsf_get_dbl_max(struct twsf_msg *m, double *v);	/* "" -> DBL_MAX */
/* Decimal quantity: "", INT64_MAX and INT64_MIN (the official decoder's
 * unset forms) and the DBL_MAX text -> DBL_MAX. */
int twsf_get_dec(struct twsf_msg *m, double *v);

#endif
