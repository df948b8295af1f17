/* rebal-sum: one summary line per job: account, event, outcome, order
 * counts; or, with -s, one job's summary as sh assignments for scripts (and,
 * with -w, the line of a finished job kept in a file). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atom.h"
#include "diag.h"
#include "jvx.h"
#include "nd.h"

#define SYNOPSIS "[-hs] [-r rundir] [-w file] [file ...]"

static const char *rundir;	/* -r */
static int shell;		/* -s */
static const char *keepf;	/* -w */
static int njobs;
static jv sh;			/* -s: the assignments, printed at the end */
static jv done;			/* -s -w: the line of a finished job, or null */

/* A || B as jq has it: B when A is null or false. Both consumed. */
static jv
alt(jv a, jv b)
{
	jv_kind k = jv_get_kind(a);

	if (k == JV_KIND_NULL || k == JV_KIND_FALSE || k == JV_KIND_INVALID) {
		jv_free(a);
		return b;
	}
	jv_free(b);
	return a;
}

/* The values of an array or an object, else none: jq's [.[]?]. */
static jv
values(jv v)
{
	jv out;

	if (jv_get_kind(v) == JV_KIND_ARRAY)
		return v;
	out = jv_array();
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv_object_foreach(v, k, e) {
			jv_free(k);
			out = jv_array_append(out, e);
		}
	}
	jv_free(v);
	return out;
}

/* jq's (.filled // 0) > 0 for one execution: numbers compare, strings,
 * arrays and objects sort above every number, null and booleans below. */
static int
has_fill(jv x)
{
	jv f = jvx_get(x, "filled");
	int r;

	switch (jv_get_kind(f)) {
	case JV_KIND_NUMBER:
		r = jv_number_value(f) > 0;
		break;
	case JV_KIND_STRING:
	case JV_KIND_ARRAY:
	case JV_KIND_OBJECT:
		r = 1;
		break;
	default:
		r = 0;
		break;
	}
	jv_free(f);
	return r;
}

/* The summary of JOB (not consumed). */
static jv
summary(jv job)
{
	jv acct = jvx_get(job, "account"), plan = jvx_get(job, "plan");
	jv st = alt(jvx_get(job, "status"), jv_string("ok")), o, x;
	const char *s = jv_get_kind(st) == JV_KIND_STRING ?
	    jv_string_value(st) : "";
	int i, n, filled = 0;

	if (strcmp(s, "ok") && strcmp(s, "deferred") && strcmp(s, "skipped")) {
		jv_free(st);
		st = jv_string("failed");
	}
	o = JV_OBJECT(jv_string("account_id"), alt(jvx_get(acct, "id"),
	    jvx_get(job, "account_id")),
	    jv_string("strategy"), jvx_get(job, "strategy"),
	    jv_string("exec"), jvx_get(job, "exec"),
	    jv_string("event"), alt(jvx_get(job, "id"), jvx_get(job,
	    "event_id")),
	    jv_string("status"), st,
	    jv_string("error"), jvx_get(job, "error"),
	    jv_string("defer_until"), jvx_get(job, "defer_until"),
	    jv_string("reason"), jvx_get(job, "reason"));
	o = jv_object_set(o, jv_string("planned"), jv_number(jv_array_length(
	    values(jvx_get(plan, "orders")))));
	x = values(jvx_get(job, "executions"));
	n = jv_array_length(jv_copy(x));
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(x), i);

		filled += has_fill(e);
		jv_free(e);
	}
	jv_free(x);
	o = jv_object_set(o, jv_string("filled"), jv_number(filled));
	o = jv_object_set(o, jv_string("run"), rundir ? jv_string(rundir) :
	    jv_null());
	jv_free(acct);
	jv_free(plan);
	return o;
}

/* NAME='VALUE' to the assignments: a string as it is, anything else but
 * null as compact JSON; null as "unset NAME". V consumed. */
static void
assign(const char *name, jv v)
{
	const char *p, *q;
	jv text;

	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		sh = jv_string_append_str(jv_string_append_str(sh, "unset "),
		    name);
		sh = jv_string_append_str(sh, "\n");
		return;
	}
	if (jv_get_kind(v) == JV_KIND_STRING)
		text = v;
	else
		text = jv_dump_string(v, 0);
	sh = jv_string_append_str(jv_string_append_str(sh, name), "='");
	for (p = jv_string_value(text); (q = strchr(p, '\'')) != NULL;
	    p = q + 1) {
		sh = jv_string_append_buf(sh, p, (int)(q - p));
		sh = jv_string_append_str(sh, "'\\''");
	}
	sh = jv_string_append_str(jv_string_append_str(sh, p), "'\n");
	jv_free(text);
}

static int
one(jv job, void *ctx)
{
	jv s = summary(job), acct, st;

	(void)ctx;
	if (!shell) {
		jv_free(job);
		nd_emit(s);
		return 0;
	}
	if (++njobs > 1) {
		jv_free(job);
		jv_free(s);
		return 0;
	}
	acct = jvx_get(job, "account");
	assign("account_id", jvx_get(s, "account_id"));
	assign("strategy", jvx_get(s, "strategy"));
	assign("exec", jvx_get(s, "exec"));
	assign("event", jvx_get(s, "event"));
	assign("status", jvx_get(s, "status"));
	assign("order_type", jvx_get(acct, "order_type"));
	st = jvx_get(s, "status");
	if (strcmp(jv_string_value(st), "ok") == 0 ||
	    strcmp(jv_string_value(st), "skipped") == 0) {
		jv_free(done);
		done = jv_string_append_str(jv_dump_string(jv_copy(s), 0), "\n");
	}
	jv_free(st);
	assign("summary", jv_dump_string(s, 0));
	jv_free(acct);
	jv_free(job);
	return 0;
}

/* LINE atomically into PATH, its directory made when missing. 0 or -1. */
static int
keep(const char *path, jv line)
{
	char *dir = strdup(path);
	int r = -1;

	if (dir != NULL && atom_mkdirs(dirname(dir), 0700) == 0 &&
	    atom_write(path, jv_string_value(line),
	    (size_t)jv_string_length_bytes(jv_copy(line))) == 0)
		r = 0;
	free(dir);
	return r;
}

int
main(int argc, char **argv)
{
	int c, st;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "hr:sw:")) != -1) {
		switch (c) {
		case 'h':
			usage(SYNOPSIS, 1);
		case 'r':
			rundir = optarg;
			break;
		case 's':
			shell = 1;
			break;
		case 'w':
			keepf = optarg;
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	}
	if (keepf != NULL && !shell)
		usage(SYNOPSIS, 0);
	sh = jv_string("");
	done = jv_null();
	st = nd_each(argc - optind, argv + optind, one, NULL);
	if (shell && st == 0 && njobs != 1) {
		warnx("-s: expected exactly one job, got %d", njobs);
		st = EX_DATAERR;
	}
	/* the finished job's line, kept before the script hears of it; one
	 * that cannot be kept is a warning (the job itself is done) */
	if (keepf != NULL && st == 0 && jv_get_kind(done) == JV_KIND_STRING &&
	    keep(keepf, done) == -1)
		warnx("%s: cannot record the finished job:", keepf);
	jv_free(done);
	/* no assignment at all for a script to act on when the input is bad */
	if (shell && st == 0 && fputs(jv_string_value(sh), stdout) == EOF)
		die(EX_IOERR, "write error: stdout:");
	jv_free(sh);
	nd_finish();
	return st;
}
