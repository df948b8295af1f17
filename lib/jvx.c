/* jvx: jv field access, tick rounding, job failure records. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jvx.h"

jv
jvx_get(jv obj, const char *key)
{
	jv v;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_null();
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

int
jvx_num(jv obj, const char *key, double *out)
{
	jv v = jvx_get(obj, key);
	int ok = 0;

	if (jv_get_kind(v) == JV_KIND_NUMBER && isfinite(jv_number_value(v))) {
		*out = jv_number_value(v);
		ok = 1;
	}
	jv_free(v);
	return ok;
}

const char *
jvx_str(jv obj, const char *key)
{
	jv v = jvx_get(obj, key);
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v);	/* OBJ still holds a reference */
	jv_free(v);
	return s;
}

int
jvx_bool(jv obj, const char *key, int def)
{
	jv v = jvx_get(obj, key);
	int r;

	switch (jv_get_kind(v)) {
	case JV_KIND_TRUE:
		r = 1;
		break;
	case JV_KIND_FALSE:
	case JV_KIND_NULL:
		r = 0;
		break;
	default:
		r = def;
	}
	jv_free(v);
	return r;
}

/* Where libjq 1.6 loses a string: one that follows a complete value with no
 * ',' or ':' between, inside a container (its parser's value() returns
 * "Expected separator between values" without freeing the new value). Such
 * text is never valid JSON. Returns the offset of that string, or -1. The
 * classes follow jv_parse.c: whitespace, '"', structure, anything else is
 * part of a literal. */
static int
jq16_leaky(const char *s, int n)
{
	int i, depth = 0, instr = 0, esc = 0, after = 0;

	for (i = 0; i < n; i++) {
		if (instr) {
			if (esc)
				esc = 0;
			else if (s[i] == '\\')
				esc = 1;
			else if (s[i] == '"') {
				instr = 0;
				after = 1;
			}
			continue;
		}
		switch (s[i]) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		case '"':
			if (after && depth > 0)
				return i;
			instr = 1;
			break;
		case '[':
		case '{':
			depth++;
			after = 0;
			break;
		case ']':
		case '}':
			depth--;
			after = 1;
			break;
		case ',':
		case ':':
			after = 0;
			break;
		default:
			after = 1;
		}
	}
	return -1;
}

jv
jvx_parse(const char *s, int n)
{
	const char *m, *w;
	jv v, msg;
	int at;

	if (n < 0)
		n = 0;
	if ((at = jq16_leaky(s, n)) >= 0)
		v = jv_invalid_with_msg(jv_string_fmt("Expected separator "
		    "between values at column %d (while parsing '%.*s%s')",
		    at + 1, n > 64 ? 48 : n, s, n > 64 ? "..." : ""));
	else {
		/* libjq 1.6 quotes the text in its error messages up to a NUL,
		 * not N bytes: it gets a copy that ends in one */
		char *t = xmalloc((size_t)n + 1);

		memcpy(t, s, (size_t)n);
		t[n] = '\0';
		v = jv_parse_sized(t, n);
		free(t);
	}
	if (jv_is_valid(v) || n <= 64)
		return v;
	msg = jv_invalid_get_msg(v);
	if (jv_get_kind(msg) != JV_KIND_STRING)
		return jv_invalid_with_msg(msg);
	m = jv_string_value(msg);
	if ((w = strstr(m, " (while parsing '")) == NULL)
		return jv_invalid_with_msg(msg);
	v = jv_invalid_with_msg(jv_string_fmt("%.*s (while parsing '%.*s...')",
	    (int)(w - m), m, 48, s));
	jv_free(msg);
	return v;
}

double
jvx_round_even(double x)
{
	double r = nearbyint(x);	/* default rounding mode: half to even */

	return r == 0 ? 0 : r;		/* no -0 */
}

double
jvx_round_tick(double x, double tick, int mode)
{
	double q, r;
	int dec = 0;
	char buf[64];

	if (!(tick > 0))
		tick = 0.01;
	q = x / tick;
	/* absorb binary noise: 90.47/0.01 = 9046.999999999998 */
	if (fabs(q - nearbyint(q)) < 1e-7)
		q = nearbyint(q);
	r = mode < 0 ? floor(q) : mode > 0 ? ceil(q) : jvx_round_even(q);
	/* decimals of the tick, so that the result prints as a short decimal */
	snprintf(buf, sizeof buf, "%.10f", tick);
	{
		char *dot = strchr(buf, '.');
		size_t n;

		if (dot) {
			n = strlen(dot + 1);
			while (n > 0 && dot[n] == '0')
				n--;
			dec = (int)n;
		}
	}
	snprintf(buf, sizeof buf, "%.*f", dec, r * tick);
	r = strtod(buf, NULL);
	return r == 0 ? 0 : r;
}

const char *
jvx_account(jv job)
{
	jv acct = jvx_get(job, "account");
	const char *s = NULL;

	if (jv_get_kind(acct) == JV_KIND_OBJECT)
		s = jvx_str(acct, "id");
	else if (jv_get_kind(acct) == JV_KIND_STRING)
		s = jv_string_value(acct);
	jv_free(acct);
	if (s == NULL)
		s = jvx_str(job, "account_id");
	return s ? s : "-";
}

jv
jvx_fail(jv job, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	warnx("%s: %s", jvx_account(job), msg);
	job = jv_object_set(job, jv_string("status"), jv_string("failed"));
	return jv_object_set(job, jv_string("error"),
	    JV_OBJECT(jv_string("code"), jv_number(code),
	    jv_string("message"), jv_string(msg),
	    jv_string("tool"), jv_string(progname)));
}
