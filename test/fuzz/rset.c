/* rset: libFuzzer harness for the replacement-sets.yaml loader (lib/rset.h):
 * load the input as a file; on success check every set and rule as
 * alloc-replace relies on them, and look each up as it does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memfile.h"
#include "rset.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rset_list l;
	const struct rset *s, *f;
	const struct rset_rule *r;
	size_t i, j;

	if (rset_load(memfile(data, size), &l) != 0) {
		if (l.n != 0 || l.v != NULL)
			abort();	/* promised empty on error */
		return 0;
	}
	for (i = 0; i < l.n; i++) {
		s = &l.v[i];
		/* a name holding a NUL byte is cut there: the first set of
		 * that cut name is found, not necessarily this one */
		if ((f = rset_find(&l, s->name)) == NULL || f > s ||
		    strcmp(f->name, s->name) != 0)
			abort();
		if (s->n > 0 && s->r == NULL)
			abort();
		for (j = 0; j < s->n; j++) {
			r = &s->r[j];
			if (r->source == NULL || r->target == NULL ||
			    !rset_symbol_ok(r->source) ||
			    !rset_symbol_ok(r->target) ||
			    !(r->scale > 0 && r->scale <= RSET_SCALE_MAX) ||
			    r->line < 1)
				abort();
			if (rset_rule(s, r->source) != r)
				abort();	/* sources unique in a set */
		}
		if (rset_rule(s, "") != NULL)
			abort();
	}
	rset_free(&l);
	if (l.n != 0 || l.v != NULL)
		abort();
	return 0;
}
