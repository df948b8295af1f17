/* alloc-replace: apply each job's replacement set (replacement-sets.yaml) to
 * its allocations: substitute, scale, take the excess from the other symbols,
 * merge, renormalise. The input list is kept as allocations_original. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "rset.h"

static const char synopsis[] =
    "[-hU] [-f file] [-l floor] [-T tolerance] [-t trigger] [file ...]";

static struct rset_list sets;
static const char *file = "replacement-sets.yaml";
static double floor_frac = 0.1;		/* minimal_non_replaced_allocation */
static double trigger = 1e-4;		/* normalization_trigger_threshold */
static double tolerance = 0.01;		/* normalization_failure_threshold */
static int to_one;			/* -U: renormalise to 1 like upstream */
static int nofile;			/* the default file does not exist */
static int quiet;			/* apply() only computes: no stderr */

/* Load the sets, or exit 78. A missing default file means no sets. */
static void
load(int explicit)
{
	if (!explicit && access(file, F_OK) != 0 && errno == ENOENT) {
		nofile = 1;
		return;
	}
	if (rset_load(file, &sets) != 0)
		exit(EX_CONFIG);
}

/* The substitution. */

struct w {
	const char	*sym;	/* owned by the input list or the set */
	double		 w;
	int		 replaced; /* a target of an applied rule */
};

static jv
warn_job(jv job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static jv
warn_job(jv job, const char *fmt, ...)
{
	va_list ap;
	char msg[512];
	jv ws;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!quiet)
		warnx("%s: %s", jvx_account(job), msg);
	ws = jvx_get(job, "warnings");
	if (jv_get_kind(ws) == JV_KIND_NULL) {
		jv_free(ws);
		ws = jv_array();
	}
	if (jv_get_kind(ws) != JV_KIND_ARRAY) {
		jv_free(ws);
		return job;
	}
	return jv_object_set(job, jv_string("warnings"),
	    jv_array_append(ws, jv_string(msg)));
}

/* JOB (consumed) with ORIG (not consumed) replaced by SET as its
 * allocations and ORIG as allocations_original; *ST set on failure. */
static jv
apply(jv job, const struct rset *set, jv orig, int *st)
{
	struct w *v;
	double s0 = 0, sum, excess = 0, nonrep = 0, goal;
	int i, j, n = jv_array_length(jv_copy(orig)), m;
	jv out;

	v = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *v);
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(orig), i);
		const char *sym = jvx_str(e, "symbol");
		double w;

		if (sym == NULL || !rset_symbol_ok(sym) ||
		    !jvx_num(e, "weight", &w) || w < 0) {
			jv_free(e);
			free(v);
			*st = EX_FAIL;
			if (quiet) {
				jv_free(job);
				return jv_null();
			}
			return jvx_fail(job, EX_DATAERR, "allocations[%d]: "
			    "expected {\"symbol\", \"weight\" >= 0}", i);
		}
		v[i].sym = sym;	/* ORIG keeps the string alive */
		v[i].w = w;
		v[i].replaced = 0;
		s0 += w;
		jv_free(e);
	}

	/* 2: substitute and scale; the excess is what scaling added. A
	 * symbol is "replaced" when it is the target of an applied rule. */
	for (i = 0; i < n; i++) {
		const struct rset_rule *r = rset_rule(set, v[i].sym);

		if (r == NULL)
			continue;
		excess += v[i].w * r->scale - v[i].w;
		v[i].sym = r->target;
		v[i].w *= r->scale;
		v[i].replaced = 1;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < n && !v[i].replaced; j++)
			if (v[j].replaced && !strcmp(v[i].sym, v[j].sym))
				v[i].replaced = 1;

	/* 3: take the excess from the symbols that were not replaced */
	if (excess > 0) {
		for (i = 0; i < n; i++)
			if (!v[i].replaced)
				nonrep += v[i].w;
		if (nonrep > 0) {
			double left = nonrep - excess;

			if (left < 0) {
				left = floor_frac * nonrep;
				job = warn_job(job, "replacement set '%s' adds "
				    "%.6g of weight but the other symbols hold "
				    "only %.6g; they keep %.6g of their weight "
				    "and the list is renormalised", set->name,
				    excess, nonrep, floor_frac);
			}
			for (i = 0; i < n; i++)
				if (!v[i].replaced)
					v[i].w *= left / nonrep;
		} else
			job = warn_job(job, "replacement set '%s' adds %.6g of "
			    "weight and no other symbol can give it up; the "
			    "list is renormalised", set->name, excess);
	}

	/* 4: merge duplicates, first occurrence first */
	for (i = 0, m = 0; i < n; i++) {
		for (j = 0; j < m; j++)
			if (!strcmp(v[j].sym, v[i].sym))
				break;
		if (j < m)
			v[j].w += v[i].w;
		else
			v[m++] = v[i];
	}

	/* 5: renormalise: to the original sum (at most 1), or to 1 (-U) */
	goal = to_one ? 1 : fmin(s0, 1);
	for (sum = 0, i = 0; i < m; i++)
		sum += v[i].w;
	if (fabs(sum - goal) > trigger) {
		if (fabs(sum - goal) > tolerance)
			job = warn_job(job, "weights sum to %.6g after "
			    "replacement set '%s'; renormalised to %.6g", sum,
			    set->name, goal);
		if (sum > 0)
			for (i = 0; i < m; i++)
				v[i].w *= goal / sum;
		else {
			free(v);
			*st = EX_FAIL;
			if (quiet) {
				jv_free(job);
				return jv_null();
			}
			return jvx_fail(job, EX_DATAERR, "weights sum to 0 "
			    "after replacement set '%s'", set->name);
		}
	}

	out = jv_array();
	for (i = 0; i < m; i++)
		out = jv_array_append(out, JV_OBJECT(
		    jv_string("symbol"), jv_string(v[i].sym),
		    jv_string("weight"),
		    jv_number(jvx_round_tick(v[i].w, 1e-10, 0))));
	free(v);
	job = jv_object_set(job, jv_string("allocations"), out);
	return jv_object_set(job, jv_string("allocations_original"),
	    jv_copy(orig));
}

static int
one(jv job, void *ctx)
{
	jv acct, name, orig;
	const struct rset *set;
	const char *st_s = jvx_str(job, "status");
	int st = 0;

	(void)ctx;
	if (st_s != NULL && strcmp(st_s, "ok") != 0) {
		nd_emit(job);
		return 0;
	}
	acct = jvx_get(job, "account");
	name = jvx_get(acct, "replacement_set");
	jv_free(acct);
	if (jv_get_kind(name) == JV_KIND_NULL ||
	    (jv_get_kind(name) == JV_KIND_STRING &&
	    *jv_string_value(name) == '\0')) {
		jv_free(name);
		nd_emit(job);
		return 0;
	}
	if (jv_get_kind(name) != JV_KIND_STRING) {
		jv_free(name);
		nd_emit(jvx_fail(job, EX_DATAERR, "account.replacement_set: "
		    "expected a string"));
		return EX_FAIL;
	}
	if ((set = rset_find(&sets, jv_string_value(name))) == NULL) {
		job = jvx_fail(job, EX_CONFIG, "replacement set '%s' is not in "
		    "%s%s", jv_string_value(name), file,
		    nofile ? " (no such file)" : "");
		jv_free(name);
		nd_emit(job);
		return EX_FAIL;
	}
	jv_free(name);

	/* A job that went through here before passes through untouched, as
	 * long as its allocations are what its original gives; allocations
	 * changed since (fetched again) are new input. */
	orig = jvx_get(job, "allocations_original");
	if (jv_get_kind(orig) == JV_KIND_ARRAY) {
		jv again, now;
		int dummy = 0;

		quiet = 1;
		again = apply(jv_copy(job), set, orig, &dummy);
		quiet = 0;
		now = jvx_get(job, "allocations");
		if (jv_equal(jvx_get(again, "allocations"), now)) {
			jv_free(again);
			jv_free(orig);
			nd_emit(job);
			return 0;
		}
		jv_free(again);
	}
	jv_free(orig);
	orig = jvx_get(job, "allocations");
	if (jv_get_kind(orig) != JV_KIND_ARRAY) {
		jv_free(orig);
		nd_emit(jvx_fail(job, EX_DATAERR, "allocations: missing"));
		return EX_FAIL;
	}
	job = apply(job, set, orig, &st);
	jv_free(orig);
	nd_emit(job);
	return st;
}

int
main(int argc, char *argv[])
{
	int c, explicit = 0, st;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "f:hl:T:t:U")) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			explicit = 1;
			break;
		case 'h':
			usage(synopsis, 1);
		case 'l':
			floor_frac = opt_double(c, optarg, 0, 1);
			break;
		case 'T':
			tolerance = opt_double(c, optarg, 0, 1);
			break;
		case 't':
			trigger = opt_double(c, optarg, 0, 1);
			break;
		case 'U':
			to_one = 1;
			break;
		default:
			usage(synopsis, 0);
		}
	}
	argc -= optind;
	argv += optind;
	load(explicit);
	st = nd_each(argc, argv, one, NULL);
	rset_free(&sets);
	nd_finish();
	return st;
}
