/* twsf_test: TWS framing and field encoding (lib/twsf). TAP on stdout, exit 1
 * on any failure. Byte strings come from tws-protocol.md section 1. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twsf.h"
#include "tap.h"

static int
bytes_eq(const struct twsf_buf *b, const char *want, size_t n)
{
	return b->len == n && memcmp(b->p, want, n) == 0;
}

/* The text of one field written by FN(V). */
static const char *
dbl_text(void (*fn)(struct twsf_buf *, double), double v)
{
	static char out[64];
	struct twsf_buf b = {0};

	fn(&b, v);
	snprintf(out, sizeof out, "%s", b.p);
	twsf_buf_free(&b);
	return out;
}

static void
test_writer(void)
{
	struct twsf_buf b = {0};

	twsf_begin(&b);
	twsf_str(&b, "49");
	twsf_int(&b, 1);
	twsf_end(&b);
	ok(bytes_eq(&b, "\0\0\0\005" "49\0" "1\0", 9),
	    "REQ_CURRENT_TIME bytes as in spec 1.5");

	twsf_drop(&b, b.len);
	ok(b.len == 0, "drop everything");
	twsf_begin(&b);
	twsf_int(&b, 71);
	twsf_int(&b, 2);
	twsf_int(&b, 1);
	twsf_str(&b, NULL);
	twsf_end(&b);
	ok(bytes_eq(&b, "\0\0\0\010" "71\0" "2\0" "1\0" "\0", 12),
	    "START_API clientId 1 bytes as in spec 1.4");
	twsf_buf_free(&b);

	twsf_raw(&b, "API\0", 4);
	twsf_begin(&b);
	twsf_raw(&b, "v100..176", 9);
	twsf_end(&b);
	ok(bytes_eq(&b, "API\0" "\0\0\0\011" "v100..176", 17),
	    "greeting: API\\0, length, version string without NUL");

	/* Two frames in one buffer, then drop the first. */
	twsf_buf_free(&b);
	twsf_begin(&b);
	twsf_str(&b, "a");
	twsf_end(&b);
	twsf_begin(&b);
	twsf_str(&b, "bc");
	twsf_int_max(&b, 2147483647);
	twsf_int_max(&b, -1);
	twsf_bool(&b, 7);
	twsf_bool(&b, 0);
	twsf_end(&b);
	ok(bytes_eq(&b, "\0\0\0\002a\0" "\0\0\0\013bc\0\0-1\0" "1\0" "0\0",
	    21), "two frames; INT_MAX -> \"\"; bools 1/0");
	twsf_drop(&b, 6);
	ok(bytes_eq(&b, "\0\0\0\013bc\0\0-1\0" "1\0" "0\0", 15),
	    "drop the first frame");
	twsf_buf_free(&b);
}

static void
test_doubles(void)
{
	static const struct {
		double v;
		const char *s;
	} t[] = {
		{ 150.25, "150.25" }, { 0.1, "0.1" }, { 100, "100" },
		{ 0, "0" }, { -0.0, "0" }, { 1e-4, "0.0001" }, { 0.01, "0.01" },
		{ -1.5, "-1.5" }, { 201.8829709, "201.8829709" },
		{ 246447.83, "246447.83" }, { 5800, "5800" },
		{ 0.005, "0.005" }, { 123456789.125, "123456789.125" },
		{ 1e20, "1e+20" }, { 1e-12, "1e-12" },
		{ DBL_MAX, "1.7976931348623157e+308" },
		{ INFINITY, "Infinity" }, { -INFINITY, "-Infinity" },
		{ NAN, "" },
	};
	size_t i;
	char what[80];
	struct twsf_buf b = {0};
	struct twsf_rd r = {0};
	struct twsf_msg m;
	double v, x;
	int bad = 0;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		snprintf(what, sizeof what, "twsf_dbl(%.17g) = \"%s\"", t[i].v,
		    t[i].s);
		is_str(dbl_text(twsf_dbl, t[i].v), t[i].s, what);
	}
	is_str(dbl_text(twsf_dbl_max, DBL_MAX), "", "twsf_dbl_max(DBL_MAX) = \"\"");
	is_str(dbl_text(twsf_dbl_max, 2.5), "2.5", "twsf_dbl_max(2.5)");
	is_str(dbl_text(twsf_dec, DBL_MAX), "", "twsf_dec(DBL_MAX) = \"\"");
	is_str(dbl_text(twsf_dec, 110), "110", "twsf_dec(110) = \"110\"");
	is_str(dbl_text(twsf_dec, 0.5), "0.5", "twsf_dec(0.5)");

	/* Round trip through the writer and the reader, many magnitudes. */
	srand(176);
	twsf_begin(&b);
	for (i = 0; i < 2000; i++) {
		x = (double)rand() / RAND_MAX * pow(10, (int)(i % 40) - 20);
		if (i % 3 == 0)
			x = -x;
		twsf_dbl(&b, x);
	}
	twsf_end(&b);
	twsf_feed(&r, b.p, b.len);
	ok(twsf_frame(&r, &m) == 1 && m.n == 2000, "2000 doubles framed");
	srand(176);
	for (i = 0; i < 2000; i++) {
		x = (double)rand() / RAND_MAX * pow(10, (int)(i % 40) - 20);
		if (i % 3 == 0)
			x = -x;
		if (twsf_get_dbl(&m, &v) != 0 || v != x ||
		    (strchr(m.f[i], 'e') != NULL && fabs(x) >= 1e-9 &&
		    fabs(x) < 1e15))
			bad++;
	}
	ok(bad == 0, "doubles round-trip exactly, no exponent in 1e-9..1e15");
	twsf_msg_free(&m);
	twsf_rd_free(&r);
	twsf_buf_free(&b);
}

/* Three frames of tws-protocol.md section 4, one zero-length in the middle. */
static const char stream[] =
    "\0\0\0\x11" "15\0" "1\0" "DU111,DU222\0"
    "\0\0\0\0"
    "\0\0\0\x36" "4\0" "2\0" "-1\0" "2104\0"
    "Market data farm connection is OK:usfarm\0" "\0"
    "\0\0\0\x07" "9\0" "1\0" "42\0";
#define STREAMLEN (sizeof stream - 1)
static const int stream_nf[] = { 3, 0, 6, 3 };
static const size_t stream_end[] = { 21, 25, 83, 94 };

static int
check_frame(const struct twsf_msg *m, int k)
{
	if (m->n != stream_nf[k])
		return 0;
	switch (k) {
	case 0:
		return strcmp(m->f[0], "15") == 0 &&
		    strcmp(m->f[2], "DU111,DU222") == 0;
	case 1:
		return m->f[0] == NULL;
	case 2:
		return strcmp(m->f[3], "2104") == 0 && *m->f[5] == '\0';
	default:
		return strcmp(m->f[2], "42") == 0;
	}
}

static void
test_reader(void)
{
	struct twsf_rd r = {0};
	struct twsf_msg m;
	size_t i, cut, k;
	int bad, rc;

	ok(STREAMLEN == stream_end[3], "test stream length");

	/* All at once: coalesced frames. */
	twsf_feed(&r, stream, STREAMLEN);
	bad = 0;
	for (k = 0; k < 4; k++) {
		if (twsf_frame(&r, &m) != 1 || !check_frame(&m, k))
			bad++;
		twsf_msg_free(&m);
	}
	ok(bad == 0, "four coalesced frames in one feed, zero-length one too");
	ok(twsf_frame(&r, &m) == 0, "then: need more bytes");
	twsf_rd_free(&r);

	/* One byte at a time: each frame appears exactly at its last byte. */
	bad = 0;
	k = 0;
	for (i = 0; i < STREAMLEN; i++) {
		twsf_feed(&r, stream + i, 1);
		while ((rc = twsf_frame(&r, &m)) == 1) {
			if (k >= 4 || i + 1 != stream_end[k] ||
			    !check_frame(&m, k))
				bad++;
			k++;
			twsf_msg_free(&m);
		}
		if (rc != 0)
			bad++;
	}
	ok(bad == 0 && k == 4, "byte-by-byte feed: frames at their last byte");
	twsf_rd_free(&r);

	/* Split in two at every position. */
	bad = 0;
	for (cut = 0; cut <= STREAMLEN; cut++) {
		k = 0;
		twsf_feed(&r, stream, cut);
		while (twsf_frame(&r, &m) == 1) {
			if (!check_frame(&m, k++))
				bad++;
			twsf_msg_free(&m);
		}
		twsf_feed(&r, stream + cut, STREAMLEN - cut);
		while (twsf_frame(&r, &m) == 1) {
			if (k > 3 || !check_frame(&m, k++))
				bad++;
			twsf_msg_free(&m);
		}
		if (k != 4 || r.len - r.off != 0)
			bad++;
		twsf_rd_free(&r);
	}
	ok(bad == 0, "split in two at every byte");

	/* Length prefix over 16 MiB - 1. */
	twsf_feed(&r, "\x01\0\0\0" "x", 5);
	ok(twsf_frame(&r, &m) == -1, "length 0x1000000: -1 (corrupt stream)");
	twsf_rd_free(&r);
	twsf_feed(&r, "\xff\xff\xff\xff", 4);
	ok(twsf_frame(&r, &m) == -1, "length 0xffffffff: -1");
	twsf_rd_free(&r);
	twsf_feed(&r, "\0\xff\xff\xff" "abc", 7);
	ok(twsf_frame(&r, &m) == 0, "length 0xffffff: legal, waits for bytes");
	twsf_rd_free(&r);
	twsf_feed(&r, "\0\0", 2);
	ok(twsf_frame(&r, &m) == 0, "half a length prefix: need more");
	twsf_rd_free(&r);

	/* A last field without NUL (the greeting's version string). */
	twsf_feed(&r, "API\0" "\0\0\0\011v100..176" "\0\0\0\004" "a\0bc", 25);
	{
		char api[4];

		ok(twsf_take(&r, api, 4) == 1 && memcmp(api, "API\0", 4) == 0,
		    "twsf_take the raw API\\0 prefix");
	}
	ok(twsf_frame(&r, &m) == 1 && m.n == 1 &&
	    strcmp(m.f[0], "v100..176") == 0, "NUL-less version string");
	twsf_msg_free(&m);
	ok(twsf_frame(&r, &m) == 1 && m.n == 2 && strcmp(m.f[1], "bc") == 0,
	    "NUL-less trailing field after a normal one");
	twsf_msg_free(&m);
	twsf_feed(&r, "\0\0\0\001", 4);
	ok(twsf_frame(&r, &m) == 0, "a 1-byte frame waits for its byte");
	twsf_feed(&r, "\0", 1);
	ok(twsf_frame(&r, &m) == 1 && m.n == 1 && *m.f[0] == '\0',
	    "a frame holding one empty field");
	twsf_msg_free(&m);
	{
		char x[2];

		ok(twsf_take(&r, x, 1) == 0, "twsf_take with nothing left: 0");
	}
	twsf_rd_free(&r);
}

/* Build one frame from NULL-terminated field texts and read it back. */
static void
msg_of(struct twsf_msg *m, const char *const *f)
{
	struct twsf_buf b = {0};
	struct twsf_rd r = {0};

	twsf_begin(&b);
	for (; *f != NULL; f++)
		twsf_str(&b, *f);
	twsf_end(&b);
	twsf_feed(&r, b.p, b.len);
	if (twsf_frame(&r, m) != 1)
		abort();
	twsf_buf_free(&b);
	twsf_rd_free(&r);
}

static void
test_getters(void)
{
	static const char *const f[] = {
		"", "2147483647", "-1", "1.5", "x", "",		/* ints */
		"", "1.7976931348623157E308", "1.7976931348623157e+308",
		"0.0", "1.0E-4", "abc", "1.8e308",		/* doubles */
		"", "9223372036854775807", "-9223372036854775808", "-110",
		"1.0",						/* decimals */
		"", "0", "2", "yes",				/* bools */
		"s", NULL,
	};
	struct twsf_msg m;
	long long i;
	double d;
	int b;
	const char *s;

	msg_of(&m, f);
	ok(twsf_get_int(&m, &i) == 0 && i == 0, "get_int \"\" -> 0");
	ok(twsf_get_int_max(&m, &i) == 0 && i == TWSF_UNSET_INT,
	    "get_int_max 2147483647 -> INT_MAX");
	ok(twsf_get_int(&m, &i) == 0 && i == -1, "get_int -1");
	ok(twsf_get_int(&m, &i) == -1, "get_int \"1.5\": malformed");
	ok(twsf_get_int(&m, &i) == -1, "get_int \"x\": malformed");
	ok(twsf_get_int_max(&m, &i) == 0 && i == TWSF_UNSET_INT,
	    "get_int_max \"\" -> INT_MAX");
	ok(twsf_get_dbl(&m, &d) == 0 && d == 0, "get_dbl \"\" -> 0");
	ok(twsf_get_dbl_max(&m, &d) == 0 && d == DBL_MAX,
	    "get_dbl_max Java sentinel text -> DBL_MAX");
	ok(twsf_get_dbl_max(&m, &d) == 0 && d == DBL_MAX,
	    "get_dbl_max Python sentinel text -> DBL_MAX");
	ok(twsf_get_dbl(&m, &d) == 0 && d == 0, "get_dbl 0.0");
	ok(twsf_get_dbl(&m, &d) == 0 && d == 1e-4, "get_dbl 1.0E-4");
	ok(twsf_get_dbl(&m, &d) == -1, "get_dbl \"abc\": malformed");
	ok(twsf_get_dbl(&m, &d) == 0 && d == DBL_MAX,
	    "get_dbl overflow clamps to DBL_MAX (unset)");
	ok(twsf_get_dec(&m, &d) == 0 && d == DBL_MAX, "get_dec \"\" -> unset");
	ok(twsf_get_dec(&m, &d) == 0 && d == DBL_MAX,
	    "get_dec INT64_MAX -> unset");
	ok(twsf_get_dec(&m, &d) == 0 && d == DBL_MAX,
	    "get_dec INT64_MIN -> unset");
	ok(twsf_get_dec(&m, &d) == 0 && d == -110, "get_dec -110");
	ok(twsf_get_dec(&m, &d) == 0 && d == 1, "get_dec 1.0");
	ok(twsf_get_bool(&m, &b) == 0 && b == 0, "get_bool \"\" -> 0");
	ok(twsf_get_bool(&m, &b) == 0 && b == 0, "get_bool 0");
	ok(twsf_get_bool(&m, &b) == 0 && b == 1, "get_bool 2 -> 1");
	ok(twsf_get_bool(&m, &b) == -1, "get_bool \"yes\": malformed");
	ok(twsf_left(&m) == 1, "one field left");
	ok(twsf_get_str(&m, &s) == 0 && strcmp(s, "s") == 0, "get_str");
	ok(twsf_left(&m) == 0, "none left");
	ok(twsf_next(&m) == NULL, "next past the end: NULL");
	ok(twsf_get_int(&m, &i) == -1 && twsf_get_int_max(&m, &i) == -1 &&
	    twsf_get_dbl(&m, &d) == -1 && twsf_get_dbl_max(&m, &d) == -1 &&
	    twsf_get_dec(&m, &d) == -1 && twsf_get_bool(&m, &b) == -1 &&
	    twsf_get_str(&m, &s) == -1, "every getter: missing field -> -1");
	m.i = 0;
	ok(twsf_skip(&m, 22) == 0 && twsf_left(&m) == 1, "skip 22");
	ok(twsf_skip(&m, 2) == -1, "skip past the end: -1");
	twsf_msg_free(&m);
}

int
main(void)
{
	test_writer();
	test_doubles();
	test_reader();
	test_getters();
	return tap_done();
}
