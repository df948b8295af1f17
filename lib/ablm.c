/* ablm: Ably message helpers for a subscriber (ably-protocol.md 2.5, 2.7). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ablm.h"
#include "diag.h"
#include "jvx.h"
#include "tm.h"

enum { T_STR = 1, T_NUM = 2, T_OBJ = 4, T_ARR = 8 };

/* 1 when field KEY of object O is absent, null or of a kind in WANT (a
 * number: finite). */
static int
typed(jv o, const char *key, int want)
{
	jv v = jvx_get(o, key);
	int ok;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		ok = 1;
		break;
	case JV_KIND_STRING:
		ok = want & T_STR;
		break;
	case JV_KIND_NUMBER:
		ok = (want & T_NUM) && isfinite(jv_number_value(v));
		break;
	case JV_KIND_OBJECT:
		ok = want & T_OBJ;
		break;
	case JV_KIND_ARRAY:
		ok = want & T_ARR;
		break;
	default:
		ok = 0;
	}
	jv_free(v);
	return ok != 0;
}

static int
bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* Fields KEYS (NULL-terminated) of O must be absent or of a kind in WANT. */
static int
all_typed(jv o, const char *const *keys, int want, const char *what,
    const char *where, char *why, size_t len)
{
	for (; *keys != NULL; keys++)
		if (!typed(o, *keys, want))
			return bad(why, len, "%s%s is not %s", where, *keys, what);
	return 0;
}

int
ablm_check_msg(jv m, char *why, size_t len)
{
	static const char *const strs[] = { "id", "name", "encoding",
		"clientId", "connectionId", NULL };
	static const char *const nums[] = { "timestamp", NULL };

	if (jv_get_kind(m) != JV_KIND_OBJECT)
		return bad(why, len, "a message that is not an object");
	if (all_typed(m, strs, T_STR, "a string", "", why, len) == -1 ||
	    all_typed(m, nums, T_NUM, "a number", "", why, len) == -1)
		return -1;
	if (!typed(m, "action", T_NUM | T_STR))
		return bad(why, len, "action is not a number or a string");
	return 0;
}

int
ablm_check(jv pm, char *why, size_t len)
{
	static const char *const strs[] = { "id", "channel", "channelSerial",
		"connectionId", "connectionKey", NULL };
	static const char *const nums[] = { "timestamp", NULL };
	static const char *const enums[] = { "code", "statusCode", NULL };
	static const char *const emsg[] = { "message", NULL };
	static const char *const dstrs[] = { "connectionKey", NULL };
	static const char *const dnums[] = { "maxIdleInterval",
		"connectionStateTtl", NULL };
	char sub[200];
	double a, f;
	jv v, m;
	int i, n, r = 0;

	if (jv_get_kind(pm) != JV_KIND_OBJECT)
		return bad(why, len, "not a JSON object");
	if (!jvx_num(pm, "action", &a) || a != floor(a) || a < 0 || a > 255)
		return bad(why, len, "action is not an integer from 0 to 255");
	if (all_typed(pm, strs, T_STR, "a string", "", why, len) == -1 ||
	    all_typed(pm, nums, T_NUM, "a number", "", why, len) == -1)
		return -1;
	if (!typed(pm, "flags", T_NUM) || (jvx_num(pm, "flags", &f) &&
	    (f != floor(f) || f < 0 || f > 9007199254740992.0)))
		return bad(why, len, "flags is not a non-negative integer");
	if (!typed(pm, "error", T_OBJ) || !typed(pm, "connectionDetails",
	    T_OBJ))
		return bad(why, len, "%s is not an object",
		    typed(pm, "error", T_OBJ) ? "connectionDetails" : "error");
	v = jvx_get(pm, "error");
	for (i = 0; enums[i] != NULL && r == 0; i++)
		if (!typed(v, enums[i], T_NUM) || (jvx_num(v, enums[i], &f) &&
		    (f != floor(f) || f < 0 || f >= 1e9)))
			r = bad(why, len, "error.%s is not an integer from 0 to "
			    "999999999", enums[i]);
	if (r == 0)
		r = all_typed(v, emsg, T_STR, "a string", "error.", why, len);
	jv_free(v);
	if (r == -1)
		return -1;
	v = jvx_get(pm, "connectionDetails");
	r = all_typed(v, dstrs, T_STR, "a string", "connectionDetails.", why,
	    len);
	if (r == 0)
		r = all_typed(v, dnums, T_NUM, "a number", "connectionDetails.",
		    why, len);
	jv_free(v);
	if (r == -1 || a != ABLM_MESSAGE)
		return r;
	v = jvx_get(pm, "messages");
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		return bad(why, len, "messages is not an array");
	}
	n = jv_array_length(jv_copy(v));
	for (i = 0; i < n && r == 0; i++) {
		m = jv_array_get(jv_copy(v), i);
		if ((r = ablm_check_msg(m, sub, sizeof sub)) == -1)
			bad(why, len, "messages[%d]: %s", i, sub);
		jv_free(m);
	}
	jv_free(v);
	return r;
}

jv
ablm_messages(jv pm)
{
	jv msgs = jvx_get(pm, "messages"), out = jv_array(), m, pid, v;
	int i, n;
	char buf[64];

	if (jv_get_kind(msgs) != JV_KIND_ARRAY) {
		jv_free(msgs);
		return out;
	}
	n = jv_array_length(jv_copy(msgs));
	pid = jvx_get(pm, "id");
	for (i = 0; i < n; i++) {
		m = jv_array_get(jv_copy(msgs), i);
		if (jv_get_kind(m) != JV_KIND_OBJECT) {
			jv_free(m);
			continue;
		}
		v = jvx_get(m, "id");
		if (jv_get_kind(v) != JV_KIND_STRING &&
		    jv_get_kind(pid) == JV_KIND_STRING) {
			snprintf(buf, sizeof buf, ":%d", i);
			m = jv_object_set(m, jv_string("id"), jv_string_concat(
			    jv_copy(pid), jv_string(buf)));
		}
		jv_free(v);
		v = jvx_get(m, "connectionId");
		if (jv_get_kind(v) == JV_KIND_NULL)
			m = jv_object_set(m, jv_string("connectionId"),
			    jvx_get(pm, "connectionId"));
		jv_free(v);
		v = jvx_get(m, "timestamp");
		if (jv_get_kind(v) != JV_KIND_NUMBER)
			m = jv_object_set(m, jv_string("timestamp"),
			    jvx_get(pm, "timestamp"));
		jv_free(v);
		out = jv_array_append(out, m);
	}
	jv_free(pid);
	jv_free(msgs);
	return out;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* RFC 4648 base64 (also the URL alphabet), white space ignored, padding
 * optional. Returns the length, -1 on bad input. OUT holds >= strlen(in). */
static long
b64dec(const char *in, size_t len, unsigned char *out)
{
	unsigned long acc = 0;
	long n = 0;
	int bits = 0, v, pad = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (isspace(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64val(c)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	if (bits >= 6 || pad > 2)	/* a lone sextet cannot end the input */
		return -1;
	return n;
}

int
ablm_utf8(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;
	int k, j;
	unsigned long cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (i + (size_t)k >= n)
			return 0;
		for (j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += (size_t)k + 1;
	}
	return 1;
}

/* If S (consumed) is a string holding a JSON object or array, that value. */
static jv
json_in_string(jv s)
{
	jv v;

	if (jv_get_kind(s) != JV_KIND_STRING)
		return s;
	v = jvx_parse(jv_string_value(s), jv_string_length_bytes(jv_copy(s)));
	if (jv_get_kind(v) == JV_KIND_OBJECT || jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_free(s);
		return v;
	}
	jv_free(v);
	return s;
}

jv
ablm_decode(jv data, const char *enc, char **rest)
{
	char *e = xstrdup(enc ? enc : ""), *step, *slash;
	unsigned char *bytes;
	long n;
	jv v;

	if (rest)
		*rest = NULL;
	while (*e != '\0') {
		slash = strrchr(e, '/');
		step = slash ? slash + 1 : e;
		if (strcmp(step, "json") == 0) {
			if (jv_get_kind(data) != JV_KIND_STRING)
				break;
			v = jvx_parse(jv_string_value(data),
			    jv_string_length_bytes(jv_copy(data)));
			if (!jv_is_valid(v)) {
				jv_free(v);
				break;
			}
			jv_free(data);
			data = v;
		} else if (strcmp(step, "base64") == 0) {
			if (jv_get_kind(data) != JV_KIND_STRING)
				break;
			bytes = xmalloc((size_t)jv_string_length_bytes(
			    jv_copy(data)) + 1);
			n = b64dec(jv_string_value(data), (size_t)
			    jv_string_length_bytes(jv_copy(data)), bytes);
			if (n < 0 || !ablm_utf8(bytes, (size_t)n)) {
				free(bytes);
				break;
			}
			jv_free(data);
			data = jv_string_sized((const char *)bytes, (int)n);
			free(bytes);
		} else if (strcmp(step, "utf-8") == 0 ||
		    strcmp(step, "utf8") == 0) {
			if (jv_get_kind(data) != JV_KIND_STRING)
				break;
		} else
			break;	/* cipher+..., vcdiff, unknown */
		if (slash)
			*slash = '\0';
		else
			*e = '\0';
	}
	if (*e != '\0' && rest)
		*rest = xstrdup(e);
	free(e);
	return json_in_string(data);
}

jv
ablm_event(jv msg, const char *channel, const char *source, double now)
{
	jv ev = jv_object(), data = jvx_get(msg, "data"), v;
	char tbuf[32];
	double ts;

	ev = jv_object_set(ev, jv_string("id"), jvx_get(msg, "id"));
	v = jvx_get(data, "eventId");
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		v = jv_dump_string(v, 0);
	else if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		v = jv_null();
	}
	ev = jv_object_set(ev, jv_string("event_id"), v);
	ev = jv_object_set(ev, jv_string("strategy"), jv_string(channel));
	v = jvx_get(data, "exec");
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		v = jv_null();
	}
	ev = jv_object_set(ev, jv_string("exec"), v);
	ev = jv_object_set(ev, jv_string("source"), jv_string(source));
	if (jvx_num(msg, "timestamp", &ts))
		v = jv_string(tm_fmt(ts / 1000, tbuf));
	else
		v = jv_null();
	ev = jv_object_set(ev, jv_string("published_at"), v);
	ev = jv_object_set(ev, jv_string("received_at"),
	    jv_string(tm_fmt(now, tbuf)));
	return jv_object_set(ev, jv_string("data"), data);
}

const char *
ablm_errstr(jv err, char *buf, size_t len)
{
	double code = 0, st = 0;
	const char *msg = jvx_str(err, "message");
	char *m;

	jvx_num(err, "code", &code);
	jvx_num(err, "statusCode", &st);
	/* masked before it is cut: no partial secret */
	m = diag_mask(msg ? msg : "(no message)", strlen(msg ? msg :
	    "(no message)"));
	snprintf(buf, len, "code %.0f status %.0f: %s", code, st, m);
	free(m);
	return buf;
}

/* 1 if the rel parameter among the link parameters P..END names "next". */
static int
rel_next(const char *p, const char *end)
{
	const char *q;
	size_t w;

	while ((p = strstr(p, "rel=")) != NULL && p < end) {
		q = p + 4;
		if (*q == '"')
			q++;
		for (;;) {	/* rel may list several types: "first next" */
			w = strcspn(q, " \";,");
			if (w == 4 && strncmp(q, "next", 4) == 0)
				return 1;
			if (q[w] != ' ')
				break;
			q += w + 1;
		}
		p += 4;
	}
	return 0;
}

char *
ablm_link_next(const char *hdr)
{
	const char *p = hdr, *lt, *gt, *end;
	size_t n;
	char *target;

	while ((lt = strchr(p, '<')) != NULL) {
		if ((gt = strchr(lt, '>')) == NULL)
			return NULL;
		if ((end = strchr(gt, '<')) == NULL)
			end = gt + strlen(gt);
		if (rel_next(gt, end)) {
			n = (size_t)(gt - lt - 1);
			target = xmalloc(n + 1);
			memcpy(target, lt + 1, n);
			target[n] = '\0';
			return target;
		}
		p = end;
	}
	return NULL;
}

char *
ablm_fname(const char *channel)
{
	size_t n = strlen(channel), i, o = 0;
	char *s = xmalloc(3 * n + 1);
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)channel[i];
		if (isalnum(c) || c == '_' || c == '-' || (c == '.' && i > 0))
			s[o++] = (char)c;
		else
			o += (size_t)sprintf(s + o, "%%%02X", c);
	}
	s[o] = '\0';
	return s;
}

void
ablm_seen_init(struct ablm_seen *s, size_t cap)
{
	s->cap = cap ? cap : 1;
	s->ids = calloc(s->cap, sizeof *s->ids);
	if (s->ids == NULL)
		die(EX_SOFTWARE, "calloc:");
	s->n = s->head = 0;
}

void
ablm_seen_free(struct ablm_seen *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->ids[i]);
	free(s->ids);
	s->ids = NULL;
	s->n = s->head = s->cap = 0;
}

int
ablm_seen_has(const struct ablm_seen *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		if (s->ids[i] != NULL && strcmp(s->ids[i], id) == 0)
			return 1;
	return 0;
}

void
ablm_seen_add(struct ablm_seen *s, const char *id)
{
	if (ablm_seen_has(s, id))
		return;
	free(s->ids[s->head]);
	s->ids[s->head] = xstrdup(id);
	s->head = (s->head + 1) % s->cap;
	if (s->n < s->cap)
		s->n++;
}

jv
ablm_seen_jv(const struct ablm_seen *s)
{
	jv a = jv_array();
	size_t i, k = (s->head + s->cap - s->n) % s->cap;

	for (i = 0; i < s->n; i++, k = (k + 1) % s->cap)
		a = jv_array_append(a, jv_string(s->ids[k]));
	return a;
}

void
ablm_seen_load(struct ablm_seen *s, jv ids)
{
	int i, n;
	jv v;

	if (jv_get_kind(ids) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(ids));
		for (i = 0; i < n; i++) {
			v = jv_array_get(jv_copy(ids), i);
			if (jv_get_kind(v) == JV_KIND_STRING)
				ablm_seen_add(s, jv_string_value(v));
			jv_free(v);
		}
	}
	jv_free(ids);
}
