/* alloc-fetch: add a strategy's target weights, fetched from the allocation
 * API and validated, to each job (or print them for -s STRATEGY). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "http.h"
#include "jqf.h"
#include "jvx.h"
#include "nd.h"

#define DEFAULT_BASE "https://workers.fintech.zehnlabs.com/api/v1/strategies"
#define ATTEMPTS 4
#define SUM_SLACK 1e-6

static const char *synopsis =
    "[-h] [-f FILTER] [-s STRATEGY] [-t SECONDS] [file ...]";

static char *base;		/* without a trailing slash */
static char *key;
static struct jqf *filter;
static double timeout = 30;
static jv cache;		/* strategy -> {"allocations"} or {"code","message"} */

static int
valid_strategy(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

static int
valid_symbol(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 12 || s[0] == '.')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") == n;
}

static jv
failure(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static jv
failure(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	http_redact(msg, key);
	return JV_OBJECT(jv_string("code"), jv_number(code),
	    jv_string("message"), jv_string(msg));
}

/* The canonical response (consumed) to [{"symbol","weight"}], or a failure:
 * 69 when the service says it did not succeed, 76 when the shape is wrong,
 * 65 when the content is unacceptable. */
static jv
canon(const char *strategy, jv r)
{
	jv data, list, out = jv_array(), seen = jv_object(), e, res;
	const char *st, *sym;
	double w, sum = 0;
	int i, n;
	char where[64];

	if (jv_get_kind(r) != JV_KIND_OBJECT) {
		res = failure(EX_PROTOCOL, "response is %s, not an object",
		    jv_kind_name(jv_get_kind(r)));
		goto done;
	}
	if ((st = jvx_str(r, "status")) == NULL) {
		res = failure(EX_PROTOCOL, "response has no \"status\"");
		goto done;
	}
	if (strcmp(st, "success") != 0) {
		const char *m = jvx_str(r, "message");
		res = failure(EX_UNAVAILABLE, "response status \"%.40s\"%s%.200s",
		    st, m ? ": " : "", m ? m : "");
		goto done;
	}
	data = jvx_get(r, "data");
	list = jvx_get(data, "allocations");
	jv_free(data);
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		res = failure(EX_PROTOCOL,
		    "response has no list \"data.allocations\"");
		goto done;
	}
	n = jv_array_length(jv_copy(list));
	if (n == 0) {
		jv_free(list);
		res = failure(EX_DATAERR, "empty allocation list");
		goto done;
	}
	for (i = 0; i < n; i++) {
		e = jv_array_get(jv_copy(list), i);
		snprintf(where, sizeof where, "data.allocations[%d]", i);
		if (jv_get_kind(e) != JV_KIND_OBJECT) {
			res = failure(EX_PROTOCOL, "%s is not an object", where);
			goto bad;
		}
		if ((sym = jvx_str(e, "ticker")) == NULL &&
		    (sym = jvx_str(e, "symbol")) == NULL) {
			res = failure(EX_PROTOCOL, "%s has no \"symbol\"",
			    where);
			goto bad;
		}
		if (!valid_symbol(sym)) {
			res = failure(EX_DATAERR, "%s: bad symbol \"%.40s\" "
			    "(want 1-12 of A-Z 0-9 .)", where, sym);
			goto bad;
		}
		if (!jvx_num(e, "allocation", &w)) {
			res = failure(EX_PROTOCOL, "%s (%s) has no numeric "
			    "\"allocation\"", where, sym);
			goto bad;
		}
		if (!(w >= 0 && w <= 1)) {
			res = failure(EX_DATAERR, "%s (%s): weight %g outside "
			    "0..1", where, sym, w);
			goto bad;
		}
		if (jv_object_has(jv_copy(seen), jv_string(sym))) {
			res = failure(EX_DATAERR, "%s: duplicate symbol %s",
			    where, sym);
			goto bad;
		}
		seen = jv_object_set(seen, jv_string(sym), jv_true());
		sum += w;
		out = jv_array_append(out, JV_OBJECT(jv_string("symbol"),
		    jv_string(sym), jv_string("weight"), jv_number(w)));
		jv_free(e);
	}
	jv_free(list);
	if (sum > 1 + SUM_SLACK) {
		res = failure(EX_DATAERR, "weights sum to %.6g, more than 1",
		    sum);
		goto done;
	}
	if (sum < 0.99)
		warnx("strategy %s: weights sum to %.4g; %.2f%% stays in "
		    "cash", strategy, sum, (1 - sum) * 100);
	res = JV_OBJECT(jv_string("allocations"), out);
	out = jv_invalid();
	goto done;
bad:
	jv_free(e);
	jv_free(list);
done:
	jv_free(r);
	jv_free(out);
	jv_free(seen);
	return res;
}

static jv
fetch(const char *strategy)
{
	struct http_req rq = { 0 };
	struct http_res res;
	char *url, *hkey, what[200], m[400];
	const char *hdr[3];
	jv body, o;
	int code;

	if (!valid_strategy(strategy))
		return failure(EX_DATAERR, "bad strategy name \"%.60s\" "
		    "(want 1-128 of A-Z a-z 0-9 . _ -)", strategy);
	if (asprintf(&url, "%s/%s/allocations", base, strategy) < 0 ||
	    asprintf(&hkey, "x-api-key: %s", key) < 0)
		die(EX_SOFTWARE, "asprintf:");
	hdr[0] = hkey;
	hdr[1] = "Accept: application/json";
	hdr[2] = NULL;
	snprintf(what, sizeof what, "strategy %s", strategy);
	rq.method = "GET";
	rq.url = url;
	rq.headers = hdr;
	rq.timeout = timeout;
	rq.attempts = ATTEMPTS;
	rq.what = what;
	rq.secret = key;
	http_do(&rq, &res);
	memset(hkey, 0, strlen(hkey));
	free(hkey);
	free(url);
	if ((code = http_exit(&res)) != 0) {
		http_errmsg(&res, key, m, sizeof m);
		http_res_free(&res);
		return failure(code, "%s", m);
	}
	body = jvx_parse(res.body, (int)res.len);
	http_res_free(&res);
	if (!jv_is_valid(body)) {
		jv msg = jv_invalid_get_msg(body);
		o = failure(EX_PROTOCOL, "response is not JSON (%s)",
		    jv_get_kind(msg) == JV_KIND_STRING ?
		    jv_string_value(msg) : "unparsable");
		jv_free(msg);
		return o;
	}
	if (filter != NULL) {
		jv outs = jqf_run(filter, body);
		if (!jv_is_valid(outs)) {
			jv msg = jv_invalid_get_msg(outs);
			o = failure(EX_PROTOCOL, "-f filter: %s",
			    jv_string_value(msg));
			jv_free(msg);
			return o;
		}
		if (jv_array_length(jv_copy(outs)) != 1) {
			o = failure(EX_PROTOCOL, "-f filter gave %d results, "
			    "not one", jv_array_length(jv_copy(outs)));
			jv_free(outs);
			return o;
		}
		body = jv_array_get(outs, 0);
	}
	return canon(strategy, body);
}

/* The cached outcome for STRATEGY, fetched on first use. */
static jv
lookup(const char *strategy)
{
	jv r;

	if (jv_object_has(jv_copy(cache), jv_string(strategy)))
		return jv_object_get(jv_copy(cache), jv_string(strategy));
	r = fetch(strategy);
	cache = jv_object_set(cache, jv_string(strategy), jv_copy(r));
	return r;
}

static int
apply(jv rec, void *ctx)
{
	const char *st = jvx_str(rec, "status"), *strategy;
	jv r, code;
	int c;

	(void)ctx;
	if (st != NULL && (strcmp(st, "failed") == 0 ||
	    strcmp(st, "skipped") == 0)) {
		nd_emit(rec);
		return 0;
	}
	if ((strategy = jvx_str(rec, "strategy")) == NULL) {
		nd_emit(jvx_fail(rec, EX_DATAERR, "record has no strategy"));
		return EX_FAIL;
	}
	r = lookup(strategy);
	code = jvx_get(r, "code");
	if (jv_get_kind(code) == JV_KIND_NUMBER) {
		c = (int)jv_number_value(code);
		rec = jvx_fail(rec, c, "strategy %s: %s", strategy,
		    jvx_str(r, "message"));
		jv_free(r);
		jv_free(code);
		nd_emit(rec);
		return EX_FAIL;
	}
	jv_free(code);
	rec = jv_object_set(rec, jv_string("allocations"),
	    jvx_get(r, "allocations"));
	jv_free(r);
	nd_emit(rec);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *strategy = NULL, *prog = NULL, *env;
	char why[160], *err;
	size_t n;
	int c, st;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "f:hs:t:")) != -1) {
		switch (c) {
		case 'f':
			prog = optarg;
			break;
		case 'h':
			usage(synopsis, 1);
		case 's':
			strategy = optarg;
			break;
		case 't':
			timeout = opt_double('t', optarg, 0.1, 3600);
			break;
		default:
			usage(synopsis, 0);
		}
	}
	argc -= optind;
	argv += optind;
	if (strategy != NULL && argc > 0)
		usage(synopsis, 0);

	env = getenv("ALLOCATIONS_BASE_URL");
	base = xstrdup(env != NULL && *env != '\0' ? env : DEFAULT_BASE);
	for (n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
		base[n - 1] = '\0';
	if (http_url_check(base, why, sizeof why) < 0)
		die(EX_CONFIG, "ALLOCATIONS_BASE_URL: %s", why);
	if ((key = secret_get("ALLOCATIONS_API_KEY")) == NULL)
		die(EX_CONFIG, "ALLOCATIONS_API_KEY (or ALLOCATIONS_API_KEY_FILE) "
		    "is not set");
	if (prog != NULL && (filter = jqf_compile(prog, &err)) == NULL)
		die(EX_USAGE, "-f: %s", err);
	cache = jv_object();

	if (strategy != NULL) {
		jv rec = JV_OBJECT(jv_string("strategy"), jv_string(strategy));
		st = apply(rec, NULL);
		if (st != 0) {
			jv r = jv_object_get(jv_copy(cache),
			    jv_string(strategy));
			double d = 0;
			st = jvx_num(r, "code", &d) ? (int)d : EX_DATAERR;
			jv_free(r);
		}
	} else
		st = nd_each(argc, argv, apply, NULL);

	jv_free(cache);
	jqf_free(filter);
	memset(key, 0, strlen(key));
	free(key);
	free(base);
	nd_finish();
	return st;
}
