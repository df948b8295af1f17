/* Unit tests of lib/ablm (Ably message helpers) and lib/atom (atomic file
 * replacement). TAP on stdout; argv[1] is a scratch directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ablm.h"
#include "atom.h"
#include "diag.h"
#include "jvx.h"
#include "tap.h"

/* The compact JSON text of V (consumed), in a static buffer. */
static const char *
dump(jv v)
{
	static char buf[4096];
	jv s = jv_dump_string(v, JV_PRINT_SORTED);

	snprintf(buf, sizeof buf, "%s", jv_string_value(s));
	jv_free(s);
	return buf;
}

static const char *
dec(const char *data_json, const char *enc, char **rest)
{
	return dump(ablm_decode(jv_parse(data_json), enc, rest));
}

static void
test_decode(void)
{
	char *rest;

	is_str(dec("\"{\\\"exec\\\":\\\"rebalance\\\"}\"", "json", &rest),
	    "{\"exec\":\"rebalance\"}", "json encoding gives an object");
	ok(rest == NULL, "json: nothing left");
	is_str(dec("\"aGk=\"", "utf-8/base64", &rest), "\"hi\"",
	    "utf-8/base64 gives a string");
	ok(rest == NULL, "utf-8/base64: nothing left");
	is_str(dec("\"eyJleGVjIjoicHJpbnQtcmViYWxhbmNlIn0=\"",
	    "json/utf-8/base64", &rest), "{\"exec\":\"print-rebalance\"}",
	    "json/utf-8/base64 chain");
	ok(rest == NULL, "chain: nothing left");
	is_str(dec("\"eyJhIjox\\nfQ==\"", "json/utf8/base64", &rest),
	    "{\"a\":1}", "base64 with a line feed, utf8 spelling");
	is_str(dec("\"plain\"", NULL, &rest), "\"plain\"",
	    "no encoding: the string");
	ok(rest == NULL, "no encoding: nothing left");
	is_str(dec("\"{\\\"exec\\\":\\\"rebalance\\\",\\\"eventId\\\":\\\"e1\\\"}\"",
	    NULL, &rest), "{\"eventId\":\"e1\",\"exec\":\"rebalance\"}",
	    "JSON carried as a plain string is parsed");
	is_str(dec("\"42\"", NULL, &rest), "\"42\"",
	    "a string holding a scalar stays a string");
	is_str(dec("{\"exec\":\"x\"}", NULL, &rest), "{\"exec\":\"x\"}",
	    "an object stays");
	is_str(dec("\"abc\"", "json/cipher+aes-128-cbc/base64", &rest),
	    "\"abc\"", "cipher: undecodable payload kept");
	is_str(rest, "json/cipher+aes-128-cbc/base64", "cipher: steps left");
	free(rest);
	is_str(dec("\"//79\"", "base64", &rest), "\"//79\"",
	    "binary (not UTF-8) stays base64");
	is_str(rest, "base64", "binary: base64 left");
	free(rest);
	is_str(dec("\"not json\"", "json", &rest), "\"not json\"",
	    "bad json kept as a string");
	is_str(rest, "json", "bad json: step left");
	free(rest);
	is_str(dec("\"a$b\"", "base64", &rest), "\"a$b\"",
	    "bad base64 kept");
	free(rest);
	is_str(dec("\"4pyTIMOgIGxhIG1vZGU=\"", "utf-8/base64", NULL),
	    "\"\xe2\x9c\x93 \xc3\xa0 la mode\"", "multibyte UTF-8");
	is_str(dec("\"gA==\"", "utf-8/base64", &rest), "\"gA==\"",
	    "invalid UTF-8 bytes are not decoded");
	free(rest);
}

static void
test_messages(void)
{
	jv pm = jv_parse("{\"action\":15,\"id\":\"PUB:101\",\"connectionId\":"
	    "\"PUB\",\"channel\":\"c\",\"timestamp\":1756900000123,\"messages\":"
	    "[{\"data\":\"x\"},{\"id\":\"own\",\"connectionId\":\"other\","
	    "\"timestamp\":5,\"data\":\"y\"},7]}");
	jv ms = ablm_messages(pm);

	is_int(jv_array_length(jv_copy(ms)), 2, "non-objects dropped");
	is_str(dump(jv_array_get(jv_copy(ms), 0)),
	    "{\"connectionId\":\"PUB\",\"data\":\"x\",\"id\":\"PUB:101:0\","
	    "\"timestamp\":1756900000123}", "fields from the parent");
	is_str(dump(jv_array_get(jv_copy(ms), 1)),
	    "{\"connectionId\":\"other\",\"data\":\"y\",\"id\":\"own\","
	    "\"timestamp\":5}", "own fields kept");
	jv_free(ms);
	jv_free(pm);
	pm = jv_parse("{\"action\":15}");
	ms = ablm_messages(pm);
	is_int(jv_array_length(ms), 0, "no messages: empty array");
	jv_free(pm);
}

/* The reason ablm_check gives for the frame TEXT, "" when it passes. */
static const char *
check(const char *text)
{
	static char why[200];
	jv pm = jv_parse(text);

	why[0] = '\0';
	if (ablm_check(pm, why, sizeof why) == 0)
		why[0] = '\0';
	else if (why[0] == '\0')
		snprintf(why, sizeof why, "(no reason)");
	jv_free(pm);
	return why;
}

static void
test_check(void)
{
	char why[64];
	jv m;

	is_str(check("{\"action\":15,\"id\":\"P:1\",\"channel\":\"c\","
	    "\"channelSerial\":\"s\",\"timestamp\":1,\"connectionId\":null,"
	    "\"messages\":[{\"id\":\"a\",\"name\":\"n\",\"data\":{},"
	    "\"encoding\":\"json\",\"timestamp\":2,\"action\":0,"
	    "\"extras\":[]},{\"action\":\"message.create\"}],\"x\":[1]}"), "",
	    "check: a MESSAGE with typed fields, unknown ones ignored");
	is_str(check("{\"action\":4,\"connectionId\":\"c\",\"connectionDetails\":"
	    "{\"connectionKey\":\"k\",\"maxIdleInterval\":15000,\"serverId\":7},"
	    "\"error\":{\"code\":80008,\"statusCode\":400,\"message\":\"m\","
	    "\"href\":1}}"), "", "check: CONNECTED with an error");
	is_str(check("{\"action\":11,\"channel\":\"c\",\"flags\":983044}"), "",
	    "check: ATTACHED with flags");
	is_str(check("{\"action\":21,\"annotations\":7}"), "",
	    "check: an unknown action passes");
	is_str(check("[{\"action\":0}]"), "not a JSON object", "check: array");
	is_str(check("\"x\""), "not a JSON object", "check: string");
	is_str(check("{}"), "action is not an integer from 0 to 255",
	    "check: no action");
	is_str(check("{\"action\":\"15\"}"),
	    "action is not an integer from 0 to 255", "check: action string");
	is_str(check("{\"action\":1e300}"),
	    "action is not an integer from 0 to 255", "check: action huge");
	is_str(check("{\"action\":4.5}"),
	    "action is not an integer from 0 to 255", "check: action fraction");
	is_str(check("{\"action\":0,\"channel\":[\"c\"]}"),
	    "channel is not a string", "check: channel array");
	is_str(check("{\"action\":0,\"timestamp\":\"now\"}"),
	    "timestamp is not a number", "check: timestamp string");
	is_str(check("{\"action\":11,\"flags\":-4}"),
	    "flags is not a non-negative integer", "check: flags negative");
	is_str(check("{\"action\":11,\"flags\":1e300}"),
	    "flags is not a non-negative integer", "check: flags huge");
	is_str(check("{\"action\":9,\"error\":\"boom\"}"),
	    "error is not an object", "check: error string");
	is_str(check("{\"action\":9,\"error\":{\"code\":1e300}}"),
	    "error.code is not an integer from 0 to 999999999",
	    "check: error code huge");
	is_str(check("{\"action\":9,\"error\":{\"statusCode\":\"401\"}}"),
	    "error.statusCode is not an integer from 0 to 999999999",
	    "check: error status string");
	is_str(check("{\"action\":9,\"error\":{\"message\":7}}"),
	    "error.message is not a string", "check: error message number");
	is_str(check("{\"action\":4,\"connectionDetails\":[]}"),
	    "connectionDetails is not an object", "check: details array");
	is_str(check("{\"action\":4,\"connectionDetails\":{\"maxIdleInterval\":"
	    "\"15000\"}}"), "connectionDetails.maxIdleInterval is not a number",
	    "check: maxIdleInterval string");
	is_str(check("{\"action\":15,\"channel\":\"c\"}"),
	    "messages is not an array", "check: MESSAGE without messages");
	is_str(check("{\"action\":15,\"messages\":{\"id\":\"a\"}}"),
	    "messages is not an array", "check: messages an object");
	is_str(check("{\"action\":15,\"messages\":[{},7]}"),
	    "messages[1]: a message that is not an object",
	    "check: a message that is a number");
	is_str(check("{\"action\":15,\"messages\":[{\"id\":7}]}"),
	    "messages[0]: id is not a string", "check: message id number");
	is_str(check("{\"action\":15,\"messages\":[{\"encoding\":[]}]}"),
	    "messages[0]: encoding is not a string", "check: encoding array");
	is_str(check("{\"action\":15,\"messages\":[{\"action\":{}}]}"),
	    "messages[0]: action is not a number or a string",
	    "check: message action object");
	is_str(check("{\"action\":14,\"messages\":7}"), "",
	    "check: messages only looked at in a MESSAGE");
	m = jv_parse("{\"id\":\"h:0\",\"timestamp\":\"x\"}");
	ok(ablm_check_msg(m, why, sizeof why) == -1 &&
	    strcmp(why, "timestamp is not a number") == 0,
	    "check_msg: a history item");
	jv_free(m);
	ok(ablm_utf8("", 0) && ablm_utf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10),
	    "utf8: ASCII, 2, 3 and 4 bytes");
	ok(!ablm_utf8("\xc3\x28", 2) && !ablm_utf8("\xc3", 1) &&
	    !ablm_utf8("\xc0\xaf", 2) && !ablm_utf8("\xed\xa0\x80", 3) &&
	    !ablm_utf8("\xf4\x90\x80\x80", 4) && !ablm_utf8("\xff", 1),
	    "utf8: bad continuation, cut, overlong, surrogate, > U+10FFFF, 0xff");
	ok(ablm_utf8("a\0b", 3), "utf8: a NUL is UTF-8");
}

static void
test_event(void)
{
	jv m = jv_parse("{\"id\":\"PUB:1:0\",\"timestamp\":1756900000123,"
	    "\"data\":{\"exec\":\"rebalance\",\"eventId\":\"ev-9\"}}");

	is_str(dump(ablm_event(m, "etf-blend-200-35", "ably", 1795398559.25)),
	    "{\"data\":{\"eventId\":\"ev-9\",\"exec\":\"rebalance\"},"
	    "\"event_id\":\"ev-9\",\"exec\":\"rebalance\",\"id\":\"PUB:1:0\","
	    "\"published_at\":\"2025-09-03T11:46:40.123Z\",\"received_at\":"
	    "\"2026-11-23T01:49:19.250Z\",\"source\":\"ably\",\"strategy\":"
	    "\"etf-blend-200-35\"}", "event record");
	jv_free(m);
	m = jv_parse("{\"id\":\"x\",\"data\":\"hello\"}");
	is_str(dump(ablm_event(m, "s", "history", 0)),
	    "{\"data\":\"hello\",\"event_id\":null,\"exec\":null,\"id\":\"x\","
	    "\"published_at\":null,\"received_at\":\"1970-01-01T00:00:00Z\","
	    "\"source\":\"history\",\"strategy\":\"s\"}",
	    "event without exec, eventId or timestamp");
	jv_free(m);
	m = jv_parse("{\"id\":\"x\",\"data\":{\"exec\":1,\"eventId\":77}}");
	is_str(dump(ablm_event(m, "s", "ably", 0)),
	    "{\"data\":{\"eventId\":77,\"exec\":1},\"event_id\":\"77\","
	    "\"exec\":null,\"id\":\"x\",\"published_at\":null,\"received_at\":"
	    "\"1970-01-01T00:00:00Z\",\"source\":\"ably\",\"strategy\":\"s\"}",
	    "numeric eventId as a string, non-string exec null");
	jv_free(m);
}

static void
test_link(void)
{
	char *s;

	s = ablm_link_next("<./messages?start=0&limit=2&page=2>; rel=\"next\"");
	is_str(s, "./messages?start=0&limit=2&page=2", "one next link");
	free(s);
	s = ablm_link_next("<./messages?a=1>; rel=\"first\", "
	    "<./messages?a=1>; rel=\"current\", <./messages?p=3>; rel=\"next\"");
	is_str(s, "./messages?p=3", "next among several");
	free(s);
	s = ablm_link_next("<./m?x>; rel=\"first next\"");
	is_str(s, "./m?x", "rel listing several types");
	free(s);
	s = ablm_link_next("<./m?y>; rel=next");
	is_str(s, "./m?y", "unquoted rel");
	free(s);
	ok(ablm_link_next("<./messages?a=1>; rel=\"first\", <./m?b>; "
	    "rel=\"current\"") == NULL, "no next link");
	ok(ablm_link_next("<./m?nextpage>; rel=\"prev\"") == NULL,
	    "next inside the url is no rel");
	ok(ablm_link_next("") == NULL, "empty header");
}

static void
test_fname(void)
{
	char *s;

	s = ablm_fname("etf-blend-200-35");
	is_str(s, "etf-blend-200-35", "plain name");
	free(s);
	s = ablm_fname("../a b/c.d");
	is_str(s, "%2E.%2Fa%20b%2Fc.d", "slashes, spaces, leading dot");
	free(s);
}

static void
test_seen(void)
{
	struct ablm_seen s;
	char id[16];
	int i;

	ablm_seen_init(&s, 3);
	ablm_seen_add(&s, "a");
	ablm_seen_add(&s, "b");
	ablm_seen_add(&s, "a");
	ok(ablm_seen_has(&s, "a") && ablm_seen_has(&s, "b") &&
	    !ablm_seen_has(&s, "c"), "has after add");
	is_str(dump(ablm_seen_jv(&s)), "[\"a\",\"b\"]", "no duplicates");
	ablm_seen_add(&s, "c");
	ablm_seen_add(&s, "d");
	ok(!ablm_seen_has(&s, "a") && ablm_seen_has(&s, "d"),
	    "oldest forgotten at capacity");
	is_str(dump(ablm_seen_jv(&s)), "[\"b\",\"c\",\"d\"]",
	    "oldest first");
	ablm_seen_free(&s);
	ablm_seen_init(&s, 1000);
	for (i = 0; i < 2500; i++) {
		snprintf(id, sizeof id, "m%d", i);
		ablm_seen_add(&s, id);
	}
	is_int(s.n, 1000, "bounded at capacity");
	ok(ablm_seen_has(&s, "m2499") && ablm_seen_has(&s, "m1500") &&
	    !ablm_seen_has(&s, "m1499"), "keeps the newest");
	ablm_seen_free(&s);
	ablm_seen_init(&s, 2);
	ablm_seen_load(&s, jv_parse("[\"x\",7,\"y\",\"z\"]"));
	is_str(dump(ablm_seen_jv(&s)), "[\"y\",\"z\"]", "load, bounded");
	ablm_seen_free(&s);
}

static void
test_atom(const char *dir)
{
	char path[1200], sub[600], buf[64];
	const char *got = buf;
	FILE *f;
	struct stat st;
	size_t n;

	snprintf(sub, sizeof sub, "%.500s/x/y/z", dir);
	ok(atom_mkdirs(sub, 0700) == 0 && stat(sub, &st) == 0 &&
	    S_ISDIR(st.st_mode), "mkdirs creates the path");
	ok(atom_mkdirs(sub, 0700) == 0, "mkdirs on an existing path");
	snprintf(path, sizeof path, "%s/state.json", sub);
	ok(atom_write(path, "old\n", 4) == 0, "write");
	ok(atom_write(path, "new\n", 4) == 0, "replace");
	f = fopen(path, "r");
	n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	is_str(got, "new\n", "replaced content");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	snprintf(path, sizeof path, "%s/nodir/state.json", sub);
	ok(atom_write(path, "x", 1) == -1 && errno == ENOENT,
	    "missing directory fails");
	snprintf(path, sizeof path, "%s/state.json/z", sub);
	ok(atom_mkdirs(path, 0700) == -1, "mkdirs through a file fails");
}

int
main(int argc, char **argv)
{
	diag_init(argv[0]);
	test_decode();
	test_messages();
	test_check();
	test_event();
	test_link();
	test_fname();
	test_seen();
	test_atom(argc > 1 ? argv[1] : "/tmp");
	return tap_done();
}
