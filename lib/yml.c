/* yml: YAML to jv with line numbers (libyaml event parser). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "diag.h"
#include "yml.h"

struct anchor {
	char *name;
	jv val, lines;
	size_t nodes;		/* nodes of the value, aliases expanded */
};

struct ylo {
	yaml_parser_t p;
	const char *path;
	struct anchor *anchors;
	int nanchors;
	int depth;		/* mappings and sequences open */
	size_t nodes;		/* nodes so far, aliases expanded */
	jv err;
};

#define YML_STR_(x)	#x
#define YML_STR(x)	YML_STR_(x)

static int parse_node(struct ylo *y, yaml_event_t *ev, jv *val, jv *lines);

static jv
errf(struct ylo *y, size_t line, const char *msg)
{
	return jv_invalid_with_msg(jv_string_fmt("%s:%zu: %s", y->path,
	    line + 1, msg));
}

static int
next_event(struct ylo *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->p, ev)) {
		y->err = errf(y, y->p.problem_mark.line,
		    y->p.problem ? y->p.problem : "YAML syntax error");
		return -1;
	}
	return 0;
}

static jv
scalar_value(yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	char *end;
	double d;
	int numeric = 1;
	size_t i;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    (ev->data.scalar.tag &&
	    strcmp((char *)ev->data.scalar.tag, YAML_STR_TAG) == 0))
		return jv_string_sized(s, (int)n);
	if (n == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
		return jv_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return jv_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return jv_false();
	/* core schema numbers: [-+]?digits[.digits][e[-+]digits], .5 too */
	for (i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", s[i]))
			numeric = 0;
	if (numeric && strpbrk(s, "0123456789")) {
		errno = 0;
		d = strtod(s, &end);
		if (*end == '\0' && errno == 0 && isfinite(d))
			return jv_number(d);
	}
	return jv_string_sized(s, (int)n);
}

static void
anchor_add(struct ylo *y, const yaml_char_t *name, jv val, jv lines,
    size_t nodes)
{
	y->anchors = xrealloc(y->anchors,
	    (size_t)(y->nanchors + 1) * sizeof *y->anchors);
	y->anchors[y->nanchors].name = xstrdup((const char *)name);
	y->anchors[y->nanchors].val = jv_copy(val);
	y->anchors[y->nanchors].lines = jv_copy(lines);
	y->anchors[y->nanchors].nodes = nodes;
	y->nanchors++;
}

static int
parse_mapping(struct ylo *y, yaml_event_t *start, jv *val, jv *lines)
{
	yaml_event_t ev;
	jv obj = jv_object(), lo;
	size_t line = start->start_mark.line;

	lo = jv_object_set(jv_object(), jv_string(""), jv_number((double)line + 1));
	for (;;) {
		jv k, kl, v, vl;
		size_t kline;

		if (next_event(y, &ev) < 0)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		kline = ev.start_mark.line;
		if (parse_node(y, &ev, &k, &kl) < 0)
			goto fail;
		jv_free(kl);
		if (jv_get_kind(k) == JV_KIND_NULL) {
			jv_free(k);
			k = jv_string("");
		} else if (jv_get_kind(k) == JV_KIND_NUMBER ||
		    jv_get_kind(k) == JV_KIND_TRUE ||
		    jv_get_kind(k) == JV_KIND_FALSE) {
			k = jv_dump_string(k, 0);
		} else if (jv_get_kind(k) != JV_KIND_STRING) {
			jv_free(k);
			y->err = errf(y, kline, "mapping key is not a scalar");
			goto fail;
		}
		if (next_event(y, &ev) < 0) {
			jv_free(k);
			goto fail;
		}
		if (parse_node(y, &ev, &v, &vl) < 0) {
			jv_free(k);
			goto fail;
		}
		if (jv_object_has(jv_copy(obj), jv_copy(k))) {
			char msg[300];

			snprintf(msg, sizeof msg, "duplicate key '%s'",
			    jv_string_value(k));
			y->err = errf(y, kline, msg);
			jv_free(k);
			jv_free(v);
			jv_free(vl);
			goto fail;
		}
		obj = jv_object_set(obj, jv_copy(k), v);
		lo = jv_object_set(lo, k, vl);
	}
	*val = obj;
	*lines = lo;
	return 0;
fail:
	jv_free(obj);
	jv_free(lo);
	return -1;
}

static int
parse_sequence(struct ylo *y, yaml_event_t *start, jv *val, jv *lines)
{
	yaml_event_t ev;
	jv arr = jv_array();
	jv lo = jv_array_append(jv_array(),
	    jv_number((double)start->start_mark.line + 1));

	for (;;) {
		jv v, vl;

		if (next_event(y, &ev) < 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (parse_node(y, &ev, &v, &vl) < 0)
			goto fail;
		arr = jv_array_append(arr, v);
		lo = jv_array_append(lo, vl);
	}
	*val = arr;
	*lines = lo;
	return 0;
fail:
	jv_free(arr);
	jv_free(lo);
	return -1;
}

/* Consumes EV. */
static int
parse_node(struct ylo *y, yaml_event_t *ev, jv *val, jv *lines)
{
	const yaml_char_t *anchor = NULL;
	size_t before = y->nodes;
	int r = 0, i;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		y->nodes++;
		*val = scalar_value(ev);
		*lines = jv_number((double)ev->start_mark.line + 1);
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (y->depth >= YML_MAX_DEPTH) {
			y->err = errf(y, ev->start_mark.line,
			    "nested deeper than " YML_STR(YML_MAX_DEPTH)
			    " levels");
			r = -1;
			break;
		}
		y->nodes++;
		y->depth++;
		if (ev->type == YAML_MAPPING_START_EVENT) {
			anchor = ev->data.mapping_start.anchor;
			r = parse_mapping(y, ev, val, lines);
		} else {
			anchor = ev->data.sequence_start.anchor;
			r = parse_sequence(y, ev, val, lines);
		}
		y->depth--;
		break;
	case YAML_ALIAS_EVENT:
		for (i = y->nanchors - 1; i >= 0; i--)
			if (!strcmp(y->anchors[i].name,
			    (char *)ev->data.alias.anchor))
				break;
		if (i < 0) {
			y->err = errf(y, ev->start_mark.line,
			    "unknown alias");
			r = -1;
		} else {
			y->nodes += y->anchors[i].nodes;
			*val = jv_copy(y->anchors[i].val);
			/* a scalar alias is reported at its own line */
			*lines = jv_get_kind(y->anchors[i].lines) ==
			    JV_KIND_NUMBER ?
			    jv_number((double)ev->start_mark.line + 1) :
			    jv_copy(y->anchors[i].lines);
		}
		break;
	default:
		y->err = errf(y, ev->start_mark.line, "unexpected YAML event");
		r = -1;
	}
	if (r == 0 && y->nodes > YML_MAX_NODES) {
		/* aliases expanding exponentially ("billion laughs") */
		y->err = errf(y, ev->start_mark.line, "more than "
		    YML_STR(YML_MAX_NODES) " nodes with aliases expanded");
		jv_free(*val);
		jv_free(*lines);
		r = -1;
	}
	if (r == 0 && anchor != NULL)
		anchor_add(y, anchor, *val, *lines, y->nodes - before);
	yaml_event_delete(ev);
	return r;
}

jv
yml_load(const char *path, jv *lines)
{
	struct ylo y;
	yaml_event_t ev;
	FILE *f;
	jv val = jv_null(), lo = jv_null();
	int i, done = 0;

	memset(&y, 0, sizeof y);
	y.path = path;
	y.err = jv_null();
	if ((f = fopen(path, "r")) == NULL)
		return jv_invalid_with_msg(jv_string_fmt("%s: %s", path,
		    strerror(errno)));
	yaml_parser_initialize(&y.p);
	yaml_parser_set_input_file(&y.p, f);
	while (!done) {
		if (next_event(&y, &ev) < 0)
			break;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
			yaml_event_delete(&ev);
			break;
		case YAML_STREAM_END_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			yaml_event_delete(&ev);
			done = 1;
			break;
		default:
			if (parse_node(&y, &ev, &val, &lo) < 0)
				done = 1;
		}
	}
	yaml_parser_delete(&y.p);
	fclose(f);
	for (i = 0; i < y.nanchors; i++) {
		free(y.anchors[i].name);
		jv_free(y.anchors[i].val);
		jv_free(y.anchors[i].lines);
	}
	free(y.anchors);
	if (jv_get_kind(y.err) == JV_KIND_INVALID) {
		jv_free(val);
		jv_free(lo);
		return y.err;
	}
	if (lines)
		*lines = lo;
	else
		jv_free(lo);
	return val;
}

int
yml_load_warn(const char *path, jv *doc, jv *lines)
{
	jv msg;

	*doc = yml_load(path, lines);
	if (jv_is_valid(*doc))
		return 0;
	msg = jv_invalid_get_msg(*doc);
	warnx("%s", jv_string_value(msg));
	jv_free(msg);
	*doc = jv_invalid();
	return -1;
}

int
yml_line(jv lines, jv path)
{
	jv cur = jv_copy(lines), next;
	int i, n = jv_array_length(jv_copy(path)), line = 0;

	for (i = 0; i <= n; i++) {
		jv own;

		switch (jv_get_kind(cur)) {
		case JV_KIND_NUMBER:
			line = (int)jv_number_value(cur);
			own = jv_null();
			break;
		case JV_KIND_OBJECT:
			own = jv_object_get(jv_copy(cur), jv_string(""));
			break;
		case JV_KIND_ARRAY:
			own = jv_array_get(jv_copy(cur), 0);
			break;
		default:
			own = jv_null();
		}
		if (jv_get_kind(own) == JV_KIND_NUMBER)
			line = (int)jv_number_value(own);
		jv_free(own);
		if (i == n)
			break;
		next = jv_array_get(jv_copy(path), i);
		if (jv_get_kind(cur) == JV_KIND_OBJECT &&
		    jv_get_kind(next) == JV_KIND_STRING &&
		    jv_object_has(jv_copy(cur), jv_copy(next))) {
			cur = jv_object_get(cur, next);
		} else if (jv_get_kind(cur) == JV_KIND_ARRAY &&
		    jv_get_kind(next) == JV_KIND_NUMBER &&
		    jv_number_value(next) + 1 <
		    jv_array_length(jv_copy(cur))) {
			cur = jv_array_get(cur, (int)jv_number_value(next) + 1);
		} else {
			jv_free(next);
			break;
		}
	}
	jv_free(cur);
	jv_free(path);
	return line;
}
