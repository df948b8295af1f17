/* jqf: libjq compile and run with collected error messages. */
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "diag.h"
#include "jqf.h"

struct jqf {
	jq_state *jq;
	jv errs;	/* messages from the error callback */
};

static void
on_error(void *ctx, jv msg)
{
	struct jqf *f = ctx;

	if (jv_get_kind(msg) != JV_KIND_STRING)
		msg = jv_dump_string(msg, 0);
	f->errs = jv_array_append(f->errs, msg);
}

static char *
joined(jv errs)
{
	jv s = jv_string("");
	char *r;
	int i, n = jv_array_length(jv_copy(errs));

	for (i = 0; i < n; i++) {
		if (i > 0)
			s = jv_string_append_str(s, "; ");
		s = jv_string_concat(s, jv_array_get(jv_copy(errs), i));
	}
	r = xstrdup(jv_string_value(s));
	jv_free(s);
	return r;
}

struct jqf *
jqf_compile(const char *prog, char **err)
{
	struct jqf *f = xmalloc(sizeof *f);

	if ((f->jq = jq_init()) == NULL)
		die(EX_SOFTWARE, "jq_init failed");
	f->errs = jv_array();
	jq_set_error_cb(f->jq, on_error, f);
	if (!jq_compile(f->jq, prog)) {
		if (jv_array_length(jv_copy(f->errs)) == 0)
			f->errs = jv_array_append(f->errs,
			    jv_string("jq program does not compile"));
		*err = joined(f->errs);
		jqf_free(f);
		return NULL;
	}
	return f;
}

jv
jqf_run(struct jqf *f, jv in)
{
	jv out = jv_array(), v, msg;
	char *e;

	jv_free(f->errs);
	f->errs = jv_array();
	jq_start(f->jq, in, 0);
	while (jv_is_valid(v = jq_next(f->jq)))
		out = jv_array_append(out, v);
	if (jv_invalid_has_msg(jv_copy(v))) {
		msg = jv_invalid_get_msg(v);
		if (jv_get_kind(msg) != JV_KIND_STRING)
			msg = jv_dump_string(msg, 0);
		jv_free(out);
		return jv_invalid_with_msg(msg);
	}
	jv_free(v);
	if (jv_array_length(jv_copy(f->errs)) > 0) {
		e = joined(f->errs);
		jv_free(out);
		out = jv_invalid_with_msg(jv_string(e));
		free(e);
	}
	return out;
}

void
jqf_free(struct jqf *f)
{
	if (f == NULL)
		return;
	jq_teardown(&f->jq);
	jv_free(f->errs);
	free(f);
}
