/* Unit tests of the core lib modules: tm, jvx, yml, nd, diag's secret
 * masking. TAP on stdout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"
#include "yml.h"

static int n, failed;

static void
ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
	if (!cond)
		failed++;
}

static time_t
utc(const char *s)
{
	double t;

	if (tm_parse(s, &t) != 0)
		return (time_t)-1;
	return (time_t)t;
}

static void
test_tm(void)
{
	double t;
	char buf[32];
	struct tm lt;
	time_t o, c;
	const char *h = "20261120:0930-20261120:1600;20261121:CLOSED;"
	    "20261122:CLOSED;20261123:0930-20261123:1600";

	ok(tm_parse("2026-11-23T01:49:19Z", &t) == 0 && t == 1795398559.0,
	    "tm_parse Z");
	ok(tm_parse("2026-11-22T20:49:19-05:00", &t) == 0 &&
	    t == 1795398559.0, "tm_parse offset");
	ok(tm_parse("2026-11-23T01:49:19.250Z", &t) == 0 &&
	    fabs(t - 1795398559.25) < 1e-6, "tm_parse fraction");
	ok(tm_parse("2026-11-23 01:49", &t) == -1, "tm_parse rejects short");
	ok(tm_parse("2026-13-23T01:49:19Z", &t) == -1, "tm_parse month");
	ok(tm_parse("2026-11-23T01:49:19", &t) == -1, "tm_parse needs zone");
	ok(!strcmp(tm_fmt(1795398559.0, buf), "2026-11-23T01:49:19Z"),
	    "tm_fmt seconds");
	ok(!strcmp(tm_fmt(1795398559.25, buf), "2026-11-23T01:49:19.250Z"),
	    "tm_fmt millis");
	/* found by the ably fuzzer: a timestamp of 1.7e127 was undefined */
	ok(!strcmp(tm_fmt(1.7e127, buf), "9999-12-31T23:59:59.999Z") &&
	    !strcmp(tm_fmt(INFINITY, buf), "9999-12-31T23:59:59.999Z"),
	    "tm_fmt huge: the last four-digit year");
	ok(!strcmp(tm_fmt(-1e300, buf), "0000-01-01T00:00:00Z") &&
	    !strcmp(tm_fmt(NAN, buf), "0000-01-01T00:00:00Z"),
	    "tm_fmt below year 0 and NaN: year 0000");
	ok(!strcmp(tm_fmt(-62135596800.0, buf), "0001-01-01T00:00:00Z") &&
	    !strcmp(tm_fmt(0, buf), "1970-01-01T00:00:00Z"),
	    "tm_fmt pads the year to four digits");
	ok(tm_local("US/Eastern", 1795398559, &lt) == 0 && lt.tm_hour == 20 &&
	    lt.tm_mday == 22, "tm_local US/Eastern (EST)");
	ok(tm_local("America/New_York", utc("2026-07-01T14:00:00Z"), &lt) ==
	    0 && lt.tm_hour == 10, "tm_local summer time");
	ok(tm_local("Nowhere/Atlantis", 0, &lt) == -1, "tm_local unknown zone");
	ok(tm_local("../../etc/passwd", 0, &lt) == -1, "tm_local no paths");

	ok(tm_session(h, "US/Eastern", utc("2026-11-20T15:00:00Z"), &o, &c) ==
	    1 && o == utc("2026-11-20T14:30:00Z") &&
	    c == utc("2026-11-20T21:00:00Z"), "tm_session open");
	ok(tm_session(h, "US/Eastern", utc("2026-11-21T15:00:00Z"), &o, &c) ==
	    0 && o == utc("2026-11-23T14:30:00Z") &&
	    c == utc("2026-11-20T21:00:00Z"), "tm_session weekend");
	ok(tm_session(h, "US/Eastern", utc("2026-11-20T21:00:00Z"), &o, &c) ==
	    0, "tm_session close is exclusive");
	ok(tm_session(h, "US/Eastern", utc("2026-11-24T15:00:00Z"), &o, &c) ==
	    0 && o == 0, "tm_session beyond the list");
	ok(tm_session("20261120:0930-1200,1300-1600", "America/New_York",
	    utc("2026-11-20T18:30:00Z"), &o, &c) == 1 &&
	    o == utc("2026-11-20T18:00:00Z"), "tm_session short form");
	ok(tm_session("20261120:0930-1200,1300-1600", "America/New_York",
	    utc("2026-11-20T17:30:00Z"), &o, &c) == 0 &&
	    o == utc("2026-11-20T18:00:00Z"), "tm_session lunch break");
	ok(tm_session("20261120:0400-20261121:0200", "US/Eastern",
	    utc("2026-11-21T05:00:00Z"), &o, &c) == 1, "tm_session overnight");
	ok(tm_session("garbage", "US/Eastern", 0, &o, &c) == -1,
	    "tm_session malformed");
	ok(tm_session("20261120:1600-20261120:0930", "US/Eastern", 0, &o,
	    &c) == -1, "tm_session end before start");
	ok(tm_session(h, "Nowhere/Atlantis", 0, &o, &c) == -1,
	    "tm_session unknown zone");
}

static void
test_jvx(void)
{
	jv j;
	double d;

	ok(jvx_round_tick(90.4701, 0.01, 0) == 90.47, "tick nearest");
	ok(jvx_round_tick(402.201, 0.01, 0) == 402.2, "tick 402.20");
	ok(jvx_round_tick(90.4751, 0.05, 0) == 90.5, "tick 0.05");
	ok(jvx_round_tick(90.47, 0.01, -1) == 90.47, "tick exact stays");
	ok(jvx_round_tick(1.0049, 0.0001, 1) == 1.0049, "tick 0.0001");
	ok(jvx_round_tick(10.001, 0.01, 1) == 10.01, "tick up");
	ok(jvx_round_even(2.5) == 2 && jvx_round_even(3.5) == 4 &&
	    jvx_round_even(-2.5) == -2 && jvx_round_even(0.4) == 0,
	    "half to even");
	j = jv_parse("{\"a\":1.5,\"s\":\"x\",\"n\":null,\"t\":true}");
	ok(jvx_num(j, "a", &d) && d == 1.5, "jvx_num");
	ok(!jvx_num(j, "s", &d) && !jvx_num(j, "zz", &d), "jvx_num kinds");
	ok(jvx_str(j, "s") && !strcmp(jvx_str(j, "s"), "x") &&
	    jvx_str(j, "a") == NULL, "jvx_str");
	ok(jvx_bool(j, "t", -1) == 1 && jvx_bool(j, "n", -1) == 0 &&
	    jvx_bool(j, "a", -1) == -1, "jvx_bool");
	j = jv_object_set(j, jv_string("account"),
	    JV_OBJECT(jv_string("id"), jv_string("DU1")));
	ok(!strcmp(jvx_account(j), "DU1"), "jvx_account");
	j = jvx_fail(j, 65, "bad price %s", "SPY");
	ok(!strcmp(jvx_str(j, "status"), "failed"), "jvx_fail status");
	{
		jv e = jvx_get(j, "error");

		ok(jvx_num(e, "code", &d) && d == 65 &&
		    !strcmp(jvx_str(e, "message"), "bad price SPY") &&
		    !strcmp(jvx_str(e, "tool"), "core_test"), "jvx_fail error");
		jv_free(e);
	}
	jv_free(j);
}

/* Write DEPTH - 1 nested flow sequences under a key (DEPTH levels with
 * the mapping), or TEXT when DEPTH is 0, to PATH and load it: 1 when it
 * loads and WANT is NULL, or when it fails with "PATH:WANT". */
static int
yml_err_is(const char *path, int depth, const char *text, const char *want)
{
	FILE *f = fopen(path, "w");
	char buf[600];
	jv v, m;
	int i, r;

	if (depth > 0) {
		fputs("a: ", f);
		for (i = 1; i < depth; i++)
			fputc('[', f);
		for (i = 1; i < depth; i++)
			fputc(']', f);
		fputc('\n', f);
	} else
		fputs(text, f);
	fclose(f);
	v = yml_load(path, NULL);
	if (want == NULL) {
		r = jv_is_valid(v);
		jv_free(v);
		return r;
	}
	if (jv_is_valid(v)) {
		jv_free(v);
		return 0;
	}
	m = jv_invalid_get_msg(v);
	snprintf(buf, sizeof buf, "%s:%s", path, want);
	r = jv_get_kind(m) == JV_KIND_STRING && !strcmp(jv_string_value(m), buf);
	if (!r)
		printf("# got %s\n", jv_get_kind(m) == JV_KIND_STRING ?
		    jv_string_value(m) : "no message");
	jv_free(m);
	return r;
}

static void
test_yml(const char *dir)
{
	char path[512];
	FILE *f;
	jv v, lines;

	snprintf(path, sizeof path, "%s/a.yaml", dir);
	f = fopen(path, "w");
	fputs("# comment\n"
	    "accounts:\n"
	    "  - account_id: DU1\n"
	    "    enabled: true\n"
	    "    cash: 1.5\n"
	    "    zip: '007'\n"
	    "    none: ~\n"
	    "  - account_id: &x DU2\n"
	    "    alias: *x\n", f);
	fclose(f);
	v = yml_load(path, &lines);
	ok(jv_is_valid(v), "yml_load valid");
	{
		jv s = jv_dump_string(jv_copy(v), 0);

		ok(!strcmp(jv_string_value(s),
		    "{\"accounts\":[{\"account_id\":\"DU1\",\"enabled\":true,"
		    "\"cash\":1.5,\"zip\":\"007\",\"none\":null},"
		    "{\"account_id\":\"DU2\",\"alias\":\"DU2\"}]}"),
		    "yml_load typed scalars, quotes, aliases");
		jv_free(s);
	}
	ok(yml_line(lines, JV_ARRAY(jv_string("accounts"), jv_number(1),
	    jv_string("alias"))) == 9, "yml_line nested");
	ok(yml_line(lines, JV_ARRAY(jv_string("accounts"), jv_number(0))) == 3,
	    "yml_line sequence item");
	ok(yml_line(lines, JV_ARRAY(jv_string("accounts"), jv_number(0),
	    jv_string("missing"))) == 3, "yml_line missing key -> parent");
	jv_free(v);
	jv_free(lines);

	f = fopen(path, "w");
	fputs("a: 1\nb: [1, 2\nc: 3\n", f);
	fclose(f);
	v = yml_load(path, NULL);
	{
		jv m = jv_invalid_get_msg(v);
		char want[600];

		snprintf(want, sizeof want, "%s:", path);
		ok(jv_get_kind(m) == JV_KIND_STRING &&
		    !strncmp(jv_string_value(m), want, strlen(want)),
		    "yml_load error has file:line");
		jv_free(m);
	}
	f = fopen(path, "w");
	fputs("a: 1\nb: 2\na: 3\n", f);
	fclose(f);
	v = yml_load(path, NULL);
	{
		jv m = jv_invalid_get_msg(v);
		char want[600];

		snprintf(want, sizeof want, "%s:3: duplicate key 'a'", path);
		ok(jv_get_kind(m) == JV_KIND_STRING &&
		    !strcmp(jv_string_value(m), want), "yml_load duplicate key");
		jv_free(m);
	}
	v = yml_load("/nonexistent/x.yaml", NULL);
	ok(!jv_is_valid(v), "yml_load missing file");
	jv_free(v);

	/* Limits (found by the fuzzers): nesting, and aliases that expand
	 * exponentially. */
	ok(yml_err_is(path, 100, "", NULL), "yml_load 100 levels deep");
	ok(yml_err_is(path, 101, "", "1: nested deeper than 100 levels"),
	    "yml_load 101 levels deep is an error, not a stack overflow");
	ok(yml_err_is(path, 0,
	    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
	    "5: more than 100000 nodes with aliases expanded"),
	    "yml_load alias bomb is an error at the alias that crosses 100000");
	unlink(path);
}

static void
test_nd(const char *dir)
{
	char path[512];
	FILE *f;
	struct nd_in in;
	jv v;
	int r1, r2, r3, r4;

	snprintf(path, sizeof path, "%s/a.ndjson", dir);
	f = fopen(path, "w");
	fputs("{\"a\":1}\n\n[1]\n{\"b\":\n{\"c\":2}", f);
	fclose(f);
	ok(nd_open(&in, path) == 0, "nd_open");
	r1 = nd_next(&in, &v);
	if (r1 == 1)
		jv_free(v);
	r2 = nd_next(&in, &v);
	r3 = nd_next(&in, &v);
	r4 = nd_next(&in, &v);
	ok(r1 == 1 && r2 == -1 && r3 == -1 && r4 == 1 && in.line == 5 &&
	    in.bad == 2, "nd_next records, errors, blank lines, no final newline");
	if (r4 == 1)
		jv_free(v);
	ok(nd_next(&in, &v) == 0, "nd_next EOF");
	nd_close(&in);

	/* libjq 1.6 leaks the string in this line; nd_next must refuse it
	 * without calling the leaking parser (ASan and valgrind check). */
	f = fopen(path, "w");
	fputs("{\"a\":[1,{\"b\" \"c\"}]}\n{\"d\":\"x\" \"e\":1}\n{\"f\":2}\n", f);
	fclose(f);
	ok(nd_open(&in, path) == 0, "nd_open");
	r1 = nd_next(&in, &v);
	r2 = nd_next(&in, &v);
	r3 = nd_next(&in, &v);
	ok(r1 == -1 && r2 == -1 && r3 == 1 && in.bad == 2,
	    "nd_next: a value then a string with no separator is an error");
	if (r3 == 1)
		jv_free(v);
	nd_close(&in);
	unlink(path);
}

/* jvx_parse: jv_parse_sized without libjq 1.6's leak and with bounded
 * messages. */
static const char *
parse_msg(const char *s, char *buf, size_t len)
{
	jv v = jvx_parse(s, (int)strlen(s)), m;

	if (jv_is_valid(v)) {
		jv_free(v);
		return "valid";
	}
	m = jv_invalid_get_msg(v);
	snprintf(buf, len, "%s", jv_get_kind(m) == JV_KIND_STRING ?
	    jv_string_value(m) : "no message");
	jv_free(m);
	return buf;
}

static void
test_parse(void)
{
	char buf[400], want[400], long_[300];
	jv v, m;

	ok(!strcmp(parse_msg("{\"a\":[1,\"x\"],\"b\":{\"c\":\"d\"}}", buf,
	    sizeof buf), "valid"), "jvx_parse valid JSON");
	ok(!strcmp(parse_msg("[1 \"x\"]", buf, sizeof buf),
	    "Expected separator between values at column 4 (while parsing "
	    "'[1 \"x\"]')"), "jvx_parse refuses [1 \"x\"] itself");
	ok(!strcmp(parse_msg("{\"a\":\"x\",\"b\":[\"y\\\"\" \"z\"]}", buf,
	    sizeof buf), "Expected separator between values at column 21 "
	    "(while parsing '{\"a\":\"x\",\"b\":[\"y\\\"\" \"z\"]}')"),
	    "jvx_parse: escaped quotes, the column of the second string");
	ok(!strcmp(parse_msg("\"a\" \"b\"", buf, sizeof buf), "Unexpected "
	    "extra JSON values (while parsing '\"a\" \"b\"')"),
	    "jvx_parse: top-level values are libjq's error");
	v = jv_parse("{\"bad\"");
	m = jv_invalid_get_msg(v);
	snprintf(want, sizeof want, "%s", jv_string_value(m));
	jv_free(m);
	ok(!strcmp(parse_msg("{\"bad\"", buf, sizeof buf), want),
	    "jvx_parse: short text, libjq's message unchanged");
	memset(long_, 'x', sizeof long_ - 1);
	long_[0] = '[';
	long_[sizeof long_ - 1] = '\0';
	parse_msg(long_, buf, sizeof buf);
	ok(strlen(buf) < 150 && strstr(buf, "(while parsing '[xxx") != NULL &&
	    strstr(buf, "xxx...')") != NULL,
	    "jvx_parse: long text quoted as its first 48 bytes");
}

/* Last: the secrets it registers stay registered. */
static void
test_diag(const char *dir)
{
	char path[4096], buf[4096], big[1501], *m;
	FILE *f;
	size_t k;
	int saved;

	m = diag_mask("key=app.k:s3cr3t-Value!", 100);
	ok(strcmp(m, "key=app.k:s3cr3t-Value!") == 0, "diag_mask: no secret, "
	    "a copy");
	free(m);
	diag_secret("s3cr3t-Value");
	diag_secret("s3cr3t%2DValue");
	diag_secret("abc");		/* too short to mask */
	m = diag_mask("key=app.k:s3cr3t-Value, again s3cr3t%2DValue; abc",
	    100);
	ok(strcmp(m, "key=app.k:***, again ***; abc") == 0,
	    "diag_mask: every occurrence, short ones left");
	free(m);
	m = diag_mask("s3cr3t-Value and more", 13);
	ok(strcmp(m, "*** ") == 0, "diag_mask: only N bytes");
	free(m);
	m = diag_mask("xs3cr3t-Value\0s3cr3t-Value", 27);
	ok(strcmp(m, "x***") == 0, "diag_mask: up to a NUL");
	free(m);
	snprintf(path, sizeof path, "%s/diag.err", dir);
	fflush(stderr);
	saved = dup(2);
	if (saved == -1 || freopen(path, "w", stderr) == NULL) {
		ok(0, "stderr to a file");
		return;
	}
	memset(big, 'x', 1500);	/* longer than diag's own buffer */
	big[1500] = '\0';
	warnx("%s: the key %s, %s", big, "app.k:s3cr3t-Value",
	    "s3cr3t-Value");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if ((f = fopen(path, "r")) == NULL) {
		ok(0, "diag.err");
		return;
	}
	k = fread(buf, 1, sizeof buf - 1, f);
	buf[k] = '\0';
	fclose(f);
	ok(strstr(buf, "s3cr3t") == NULL && strstr(buf, ": the key app.k:***, "
	    "***\n") != NULL && strlen(buf) == strlen(progname) + 2 + 1500 +
	    25, "warnx: secrets masked, a long line whole");
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";

	diag_init(argv[0]);
	unsetenv("REBAL_NOW");
	test_tm();
	test_jvx();
	test_yml(dir);
	test_nd(dir);
	test_parse();
	test_diag(dir);
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
