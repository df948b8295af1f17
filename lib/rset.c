/* rset: replacement-sets.yaml loading and validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "rset.h"
#include "yml.h"

struct ld {
	const char	*path;
	jv		 lines;
	int		 errors;
};

/* Print "path:line: message" for the node at PATH (consumed); FMT takes
 * two strings. */
static void
bad(struct ld *ld, jv path, int error, const char *fmt, const char *a,
    const char *b)
{
	char msg[512];

	snprintf(msg, sizeof msg, fmt, a, b);
	warnx("%s:%d: %s", ld->path, yml_line(ld->lines, path), msg);
	if (error)
		ld->errors++;
}

/* V as JSON text for a message, cut to fit BUF. */
static const char *
shown(jv v, char *buf, size_t n)
{
	jv s = jv_dump_string(jv_copy(v), 0);

	snprintf(buf, n, "%s", jv_string_value(s));
	jv_free(s);
	return buf;
}

int
rset_symbol_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == 0x7f)
			return 0;
	return 1;
}

/* The symbol at KEY of RULE (not consumed) at PATH (consumed): a copy, or
 * NULL after a diagnostic. */
static char *
rule_sym(struct ld *ld, jv rule, jv path, const char *key)
{
	jv v = jv_object_get(jv_copy(rule), jv_string(key));
	char b[64], *s = NULL;

	if (jv_get_kind(v) == JV_KIND_INVALID || jv_get_kind(v) == JV_KIND_NULL)
		bad(ld, path, 1, "%s: missing", key, NULL);
	else if (jv_get_kind(v) != JV_KIND_STRING ||
	    !rset_symbol_ok(jv_string_value(v)))
		bad(ld, jv_array_append(path, jv_string(key)), 1,
		    "%s: expected a symbol, got %s", key,
		    shown(v, b, sizeof b));
	else {
		s = xstrdup(jv_string_value(v));
		jv_free(path);
	}
	jv_free(v);
	return s;
}

/* The set NAME from LIST (consumed), its valid rules only. */
static void
load_set(struct ld *ld, const char *name, jv list, struct rset *set)
{
	char b[64];
	size_t j;
	int i, n;

	set->name = xstrdup(name);
	set->r = NULL;
	set->n = 0;
	if (jv_get_kind(list) == JV_KIND_NULL) {
		jv_free(list);
		return;
	}
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		bad(ld, JV_ARRAY(jv_string(name)), 1,
		    "%s: expected a list of rules, got %s", name,
		    shown(list, b, sizeof b));
		jv_free(list);
		return;
	}
	n = jv_array_length(jv_copy(list));
	set->r = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *set->r);
	for (i = 0; i < n; i++) {
		jv rule = jv_array_get(jv_copy(list), i), v;
		jv path = JV_ARRAY(jv_string(name), jv_number(i));
		struct rset_rule *r = &set->r[set->n];

		r->line = yml_line(ld->lines, jv_copy(path));
		if (jv_get_kind(rule) != JV_KIND_OBJECT) {
			bad(ld, path, 1, "%s: expected a rule {source, "
			    "target, scale}, got %s", name,
			    shown(rule, b, sizeof b));
			jv_free(rule);
			continue;
		}
		jv_object_foreach(rule, k, x) {
			const char *ks = jv_string_value(k);

			if (strcmp(ks, "source") && strcmp(ks, "target") &&
			    strcmp(ks, "scale"))
				bad(ld, jv_array_append(jv_copy(path),
				    jv_copy(k)), 0, "unknown key '%s' ignored",
				    ks, NULL);
			jv_free(k);
			jv_free(x);
		}
		r->source = rule_sym(ld, rule, jv_copy(path), "source");
		r->target = rule_sym(ld, rule, jv_copy(path), "target");
		r->scale = 1;
		v = jv_object_get(jv_copy(rule), jv_string("scale"));
		if (jv_get_kind(v) == JV_KIND_NUMBER &&
		    jv_number_value(v) > 0 &&
		    jv_number_value(v) <= RSET_SCALE_MAX)
			r->scale = jv_number_value(v);
		else if (jv_get_kind(v) != JV_KIND_NULL &&
		    jv_get_kind(v) != JV_KIND_INVALID) {
			bad(ld, jv_array_append(jv_copy(path),
			    jv_string("scale")), 1, "scale: expected a number "
			    "above 0 and at most 10, got %s%s",
			    shown(v, b, sizeof b), "");
			r->scale = 0;
		}
		jv_free(v);
		jv_free(rule);
		for (j = 0; r->source && j < set->n; j++)
			if (!strcmp(set->r[j].source, r->source))
				break;
		if (r->source && j < set->n) {
			char at[32];

			snprintf(at, sizeof at, "%d", set->r[j].line);
			bad(ld, jv_array_append(path,
			    jv_string("source")), 1, "source: '%s' is also "
			    "replaced at line %s", r->source, at);
		} else
			jv_free(path);
		if (r->source == NULL || r->target == NULL || r->scale == 0 ||
		    j < set->n) {
			free(r->source);
			free(r->target);
			continue;
		}
		set->n++;
	}
	jv_free(list);
}

int
rset_load(const char *path, struct rset_list *l)
{
	struct ld ld;
	jv doc;
	char b[64];

	memset(l, 0, sizeof *l);
	memset(&ld, 0, sizeof ld);
	ld.path = path;
	if (yml_load_warn(path, &doc, &ld.lines) != 0)
		return -1;
	if (jv_get_kind(doc) == JV_KIND_OBJECT) {
		int n = jv_object_length(jv_copy(doc));

		l->v = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *l->v);
		jv_object_foreach(doc, k, x) {
			load_set(&ld, jv_string_value(k), x, &l->v[l->n++]);
			jv_free(k);
		}
	} else if (jv_get_kind(doc) != JV_KIND_NULL) {
		bad(&ld, jv_array(), 1, "expected a mapping of set names to "
		    "lists of rules, got %s%s", shown(doc, b, sizeof b), "");
	}
	jv_free(doc);
	jv_free(ld.lines);
	if (ld.errors) {
		rset_free(l);
		return ld.errors;
	}
	return 0;
}

void
rset_free(struct rset_list *l)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		for (j = 0; j < l->v[i].n; j++) {
			free(l->v[i].r[j].source);
			free(l->v[i].r[j].target);
		}
		free(l->v[i].r);
		free(l->v[i].name);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

const struct rset *
rset_find(const struct rset_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

const struct rset_rule *
rset_rule(const struct rset *s, const char *sym)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->r[i].source, sym))
			return &s->r[i];
	return NULL;
}
