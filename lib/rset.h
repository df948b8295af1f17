/* rset: replacement-sets.yaml (alloc-replace(1)) loaded and validated with
 * file:line diagnostics: named sets of rules source -> target at a scale. */
#ifndef REBAL_RSET_H
#define REBAL_RSET_H

#include <stddef.h>

#define RSET_SCALE_MAX	10.0

struct rset_rule {
	char	*source, *target;	/* rset_symbol_ok() */
	double	 scale;			/* (0, RSET_SCALE_MAX], default 1 */
	int	 line;			/* line of the rule in the file */
};

struct rset {
	char			*name;
	struct rset_rule	*r;	/* sources unique within the set */
	size_t			 n;
};

struct rset_list {
	struct rset	*v;
	size_t		 n;
};

/* Load and validate PATH into *L. Every problem is printed at once as
 * "tool: file:line: message", unknown keys as warnings. Returns 0; the
 * number of errors found; or -1 when PATH cannot be read or is not YAML
 * (one diagnostic). On any error L is empty. A null document or a set
 * with a null list of rules loads as no set or an empty set. */
int rset_load(const char *path, struct rset_list *l);
void rset_free(struct rset_list *l);

/* The set named NAME, or NULL. */
const struct rset *rset_find(const struct rset_list *l, const char *name);
/* The rule of S whose source is SYM (exactly), or NULL. */
const struct rset_rule *rset_rule(const struct rset *s, const char *sym);

/* 1 when S is a symbol as the sets hold them: not empty, no space, control
 * character, '"' or DEL. */
int rset_symbol_ok(const char *s);

#endif
