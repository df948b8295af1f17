/* acct: accounts.yaml loading and validation, client ids. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acct.h"
#include "diag.h"
#include "yml.h"

struct msg {
	int	 line;
	size_t	 seq;
	char	*text;
};

struct ld {
	const char	*path;
	jv		 lines;
	int		 errors;
	struct msg	*msg;	/* diagnostics, printed sorted by line */
	size_t		 nmsg;
};

static const char *const known[] = {
	"account_id", "type", "enabled", "strategy_name",
	"cash_reserve_percent", "replacement_set", "pdt_protection_enabled",
	"client_id", "order_type", "broker", NULL
};

/* Note "path:line: message" for the node at P (consumed). */
static void
say(struct ld *ld, int error, jv p, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ld->msg = xrealloc(ld->msg, (ld->nmsg + 1) * sizeof *ld->msg);
	ld->msg[ld->nmsg].line = yml_line(ld->lines, p);
	ld->msg[ld->nmsg].seq = ld->nmsg;
	ld->msg[ld->nmsg].text = xstrdup(msg);
	ld->nmsg++;
	if (error)
		ld->errors++;
}

static int
bymsgline(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print the diagnostics noted, by line, in the order noted within a line. */
static void
flush_msgs(struct ld *ld)
{
	size_t i;

	if (ld->nmsg > 0)
		qsort(ld->msg, ld->nmsg, sizeof *ld->msg, bymsgline);
	for (i = 0; i < ld->nmsg; i++) {
		warnx("%s:%d: %s", ld->path, ld->msg[i].line, ld->msg[i].text);
		free(ld->msg[i].text);
	}
	free(ld->msg);
	ld->msg = NULL;
	ld->nmsg = 0;
}

static jv
at(int i, const char *key)
{
	jv p = JV_ARRAY(jv_string("accounts"), jv_number(i));

	return key ? jv_array_append(p, jv_string(key)) : p;
}

/* V as JSON text for a message, shortened. */
static const char *
shown(jv v, char *buf, size_t n)
{
	jv s = jv_dump_string(jv_copy(v), 0);
	const char *t = jv_string_value(s);

	if (strlen(t) >= n && n > 4)
		snprintf(buf, n, "%.*s...", (int)(n - 4), t);
	else
		snprintf(buf, n, "%s", t);
	jv_free(s);
	return buf;
}

static int
word(const char *s, const char *extra)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!(*s >= 'A' && *s <= 'Z') && !(*s >= 'a' && *s <= 'z') &&
		    !(*s >= '0' && *s <= '9') &&
		    (extra == NULL || strchr(extra, *s) == NULL))
			return 0;
	return 1;
}

/* A boolean field: 1/0, DEF when absent or null, -1 on error. */
static int
get_bool(struct ld *ld, jv ent, int i, const char *key, int def)
{
	jv v = jv_object_get(jv_copy(ent), jv_string(key));
	char b[64];
	int r;

	switch (jv_get_kind(v)) {
	case JV_KIND_TRUE:
		r = 1;
		break;
	case JV_KIND_FALSE:
		r = 0;
		break;
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
		r = def;
		break;
	default:
		say(ld, 1, at(i, key), "%s: expected true or false, got %s",
		    key, shown(v, b, sizeof b));
		r = -1;
	}
	jv_free(v);
	return r;
}

/* A string field: a copy, NULL when absent or null (*bad set on error). */
static char *
get_str(struct ld *ld, jv ent, int i, const char *key, int *bad)
{
	jv v = jv_object_get(jv_copy(ent), jv_string(key));
	char b[64], *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = xstrdup(jv_string_value(v));
	else if (jv_get_kind(v) != JV_KIND_NULL &&
	    jv_get_kind(v) != JV_KIND_INVALID) {
		say(ld, 1, at(i, key), "%s: expected a string, got %s", key,
		    shown(v, b, sizeof b));
		*bad = 1;
	}
	jv_free(v);
	return s;
}

static int
parse_entry(struct ld *ld, jv ent, int i, struct acct *a)
{
	jv v;
	char b[64], *s;
	int bad = 0, r;

	memset(a, 0, sizeof *a);
	a->line = yml_line(ld->lines, at(i, NULL));
	if (jv_get_kind(ent) != JV_KIND_OBJECT) {
		say(ld, 1, at(i, NULL), "expected an account (a mapping with "
		    "account_id, type, strategy_name), got %s",
		    shown(ent, b, sizeof b));
		return -1;
	}

	jv_object_foreach(ent, k, x) {
		int j;

		for (j = 0; known[j]; j++)
			if (!strcmp(known[j], jv_string_value(k)))
				break;
		if (!known[j])
			say(ld, 0, at(i, jv_string_value(k)),
			    "unknown key '%s' ignored", jv_string_value(k));
		jv_free(k);
		jv_free(x);
	}

	a->id = get_str(ld, ent, i, "account_id", &bad);
	if (a->id == NULL && !bad) {
		say(ld, 1, at(i, NULL), "account_id: missing");
		bad = 1;
	} else if (a->id != NULL && !word(a->id, NULL)) {
		say(ld, 1, at(i, "account_id"),
		    "account_id: '%s' is not letters and digits", a->id);
		bad = 1;
	}

	r = 0;
	s = get_str(ld, ent, i, "type", &r);
	if (s != NULL && !strcmp(s, "paper"))
		a->type = ACCT_PAPER;
	else if (s != NULL && !strcmp(s, "live"))
		a->type = ACCT_LIVE;
	else if (s != NULL) {
		say(ld, 1, at(i, "type"),
		    "type: expected paper or live, got \"%s\"", s);
		bad = 1;
	} else if (!r) {
		say(ld, 1, at(i, NULL), "type: missing (paper or live)");
		bad = 1;
	} else
		bad = 1;
	free(s);

	if ((a->enabled = get_bool(ld, ent, i, "enabled", 1)) < 0)
		bad = 1;

	r = 0;
	a->strategy = get_str(ld, ent, i, "strategy_name", &r);
	if (r)
		bad = 1;
	else if (a->strategy != NULL && !word(a->strategy, "._-")) {
		say(ld, 1, at(i, "strategy_name"), "strategy_name: '%s' is "
		    "not letters, digits, '.', '_' and '-'", a->strategy);
		bad = 1;
	} else if (a->strategy == NULL && a->enabled == 1) {
		say(ld, 1, at(i, NULL), "strategy_name: missing");
		bad = 1;
	}

	v = jv_object_get(jv_copy(ent), jv_string("cash_reserve_percent"));
	if (jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) >= 0 &&
	    jv_number_value(v) <= 100)
		a->reserve = jv_number_value(v);
	else if (jv_get_kind(v) != JV_KIND_NULL &&
	    jv_get_kind(v) != JV_KIND_INVALID) {
		say(ld, 1, at(i, "cash_reserve_percent"),
		    "cash_reserve_percent: expected a number 0..100, got %s",
		    shown(v, b, sizeof b));
		bad = 1;
	}
	jv_free(v);

	a->replacement_set = get_str(ld, ent, i, "replacement_set", &bad);
	if (a->replacement_set != NULL && *a->replacement_set == '\0') {
		free(a->replacement_set);
		a->replacement_set = NULL;
	}

	if ((a->pdt = get_bool(ld, ent, i, "pdt_protection_enabled", 0)) < 0)
		bad = 1;

	v = jv_object_get(jv_copy(ent), jv_string("client_id"));
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);

		if (d == 0) {
			say(ld, 1, at(i, "client_id"), "client_id: 0 is "
			    "reserved (IB gives it a special role); "
			    "use 1..%ld", ACCT_CID_MAX);
			bad = 1;
		} else if (d != floor(d) || d < 1 || d > ACCT_CID_MAX) {
			say(ld, 1, at(i, "client_id"), "client_id: expected "
			    "an integer 1..%ld, got %s", ACCT_CID_MAX,
			    shown(v, b, sizeof b));
			bad = 1;
		} else
			a->client_id = (long)d;
	} else if (jv_get_kind(v) != JV_KIND_NULL &&
	    jv_get_kind(v) != JV_KIND_INVALID) {
		say(ld, 1, at(i, "client_id"),
		    "client_id: expected an integer 1..%ld, got %s",
		    ACCT_CID_MAX, shown(v, b, sizeof b));
		bad = 1;
	}
	jv_free(v);
	if (a->client_id == 0 && a->id != NULL)
		a->client_id = acct_client_id(a->id);

	r = 0;
	s = get_str(ld, ent, i, "order_type", &r);
	if (s != NULL && !strcmp(s, "moc"))
		a->moc = 1;
	else if (s != NULL && strcmp(s, "market") != 0) {
		say(ld, 1, at(i, "order_type"),
		    "order_type: expected market or moc, got \"%s\"", s);
		bad = 1;
	}
	if (r)
		bad = 1;
	free(s);

	r = 0;
	s = get_str(ld, ent, i, "broker", &r);
	if (s != NULL && strcmp(s, "ibkr") != 0) {
		say(ld, 1, at(i, "broker"),
		    "broker: only ibkr is supported, got \"%s\"", s);
		bad = 1;
	}
	if (r)
		bad = 1;
	free(s);

	return bad ? -1 : 0;
}

static void
acct_clear(struct acct *a)
{
	free(a->id);
	free(a->strategy);
	free(a->replacement_set);
}

int
acct_load(const char *path, struct acct_list *l)
{
	struct ld ld;
	jv doc, list;
	char b[64];
	size_t j;
	int n, k;

	memset(l, 0, sizeof *l);
	memset(&ld, 0, sizeof ld);
	ld.path = path;
	if (yml_load_warn(path, &doc, &ld.lines) != 0)
		return EX_CONFIG;
	if (jv_get_kind(doc) != JV_KIND_OBJECT) {
		warnx("%s:%d: expected a mapping with an 'accounts' list", path,
		    yml_line(ld.lines, jv_array()));
		jv_free(doc);
		jv_free(ld.lines);
		return EX_CONFIG;
	}
	jv_object_foreach(doc, key, x) {
		if (strcmp(jv_string_value(key), "accounts") != 0)
			say(&ld, 0, JV_ARRAY(jv_copy(key)),
			    "unknown key '%s' ignored", jv_string_value(key));
		jv_free(key);
		jv_free(x);
	}
	list = jv_object_get(jv_copy(doc), jv_string("accounts"));
	if (jv_get_kind(list) == JV_KIND_INVALID) {
		jv_free(list);
		say(&ld, 1, jv_array(), "missing 'accounts' list");
		list = jv_array();
	} else if (jv_get_kind(list) == JV_KIND_NULL) {
		jv_free(list);
		list = jv_array();
	} else if (jv_get_kind(list) != JV_KIND_ARRAY) {
		say(&ld, 1, JV_ARRAY(jv_string("accounts")),
		    "accounts: expected a list, got %s",
		    shown(list, b, sizeof b));
		jv_free(list);
		list = jv_array();
	}

	n = jv_array_length(jv_copy(list));
	l->v = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *l->v);
	for (k = 0; k < n; k++) {
		struct acct *a = &l->v[l->n];
		jv ent = jv_array_get(jv_copy(list), k);
		int r = parse_entry(&ld, ent, k, a);

		jv_free(ent);
		if (r < 0) {
			acct_clear(a);
			ld.errors++;
			continue;
		}
		for (j = 0; j < l->n; j++)
			if (!strcasecmp(l->v[j].id, a->id))
				break;
		if (j < l->n) {
			say(&ld, 1, at(k, "account_id"), "account_id: '%s' "
			    "is also at line %d", a->id, l->v[j].line);
			acct_clear(a);
			continue;
		}
		for (j = 0; j < l->n; j++)
			if (l->v[j].client_id == a->client_id)
				break;
		if (j < l->n) {
			say(&ld, 1, at(k, "client_id"), "client_id %ld of %s "
			    "collides with %s at line %d; set a distinct "
			    "client_id", a->client_id, a->id, l->v[j].id,
			    l->v[j].line);
			acct_clear(a);
			continue;
		}
		l->n++;
	}
	jv_free(list);
	jv_free(doc);
	flush_msgs(&ld);
	jv_free(ld.lines);
	if (ld.errors) {
		acct_free(l);
		return EX_CONFIG;
	}
	l->path = xstrdup(path);
	return 0;
}

void
acct_free(struct acct_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		acct_clear(&l->v[i]);
	free(l->v);
	free(l->path);
	memset(l, 0, sizeof *l);
}

int
acct_mode(const char *s)
{
	if (s == NULL)
		return -1;
	if (!strcmp(s, "paper"))
		return ACCT_PAPER;
	if (!strcmp(s, "live"))
		return ACCT_LIVE;
	if (!strcmp(s, "all"))
		return ACCT_ANY;
	return -1;
}

int
acct_mode_env(void)
{
	const char *s = getenv("TRADING_MODE");

	if (s == NULL || *s == '\0')
		return ACCT_PAPER;
	if (!strcmp(s, "paper"))
		return ACCT_PAPER;
	if (!strcmp(s, "live"))
		return ACCT_LIVE;
	warnx("TRADING_MODE: expected paper or live, got '%s'", s);
	return -1;
}

const char *
acct_type_name(int type)
{
	return type == ACCT_LIVE ? "live" : type == ACCT_PAPER ? "paper" :
	    "all";
}

const struct acct *
acct_find(const struct acct_list *l, const char *id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcasecmp(l->v[i].id, id))
			return &l->v[i];
	return NULL;
}

size_t
acct_strategies(const struct acct_list *l, int mode, const char ***out)
{
	const char **v = xmalloc((l->n ? l->n : 1) * sizeof *v);
	size_t i, j, n = 0;

	for (i = 0; i < l->n; i++) {
		const struct acct *a = &l->v[i];

		if (!a->enabled || !(a->type & mode) || a->strategy == NULL)
			continue;
		for (j = 0; j < n; j++)
			if (!strcmp(v[j], a->strategy))
				break;
		if (j == n)
			v[n++] = a->strategy;
	}
	*out = v;
	return n;
}

long
acct_client_id(const char *id)
{
	uint64_t v = 0, m = 0;
	uint32_t h = 2166136261u;
	const char *s;
	int big = 0;

	for (s = id; *s; s++)
		if (*s >= '0' && *s <= '9') {
			m = (m * 10 + (uint64_t)(*s - '0')) %
			    (uint64_t)ACCT_CID_MAX;
			if (!big)
				v = v * 10 + (uint64_t)(*s - '0');
			if (v > (uint64_t)ACCT_CID_MAX)
				big = 1;
		}
	if (!big && v != 0)
		return (long)v;
	if (big && m != 0)
		return (long)m;
	for (s = id; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return 1 + (long)(h % (uint32_t)(ACCT_CID_MAX - 1));
}

jv
acct_jv(const struct acct *a)
{
	return JV_OBJECT(
	    jv_string("id"), jv_string(a->id),
	    jv_string("type"), jv_string(acct_type_name(a->type)),
	    jv_string("strategy"),
	    a->strategy ? jv_string(a->strategy) : jv_null(),
	    jv_string("enabled"), jv_bool(a->enabled),
	    jv_string("cash_reserve_percent"), jv_number(a->reserve),
	    jv_string("replacement_set"),
	    a->replacement_set ? jv_string(a->replacement_set) : jv_null(),
	    jv_string("pdt_protection"), jv_bool(a->pdt),
	    jv_string("order_type"), jv_string(a->moc ? "moc" : "market"),
	    jv_string("client_id"), jv_number((double)a->client_id));
}

long
acct_job_client_id(jv acct, const char *id)
{
	jv v;
	double d;

	if (jv_get_kind(acct) != JV_KIND_OBJECT)
		return acct_client_id(id);
	v = jv_object_get(jv_copy(acct), jv_string("client_id"));
	if (jv_get_kind(v) == JV_KIND_NULL || jv_get_kind(v) == JV_KIND_INVALID) {
		jv_free(v);
		return acct_client_id(id);
	}
	d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;
	jv_free(v);
	if (!(d >= 1 && d <= (double)ACCT_CID_MAX) || d != floor(d))
		return -1;
	return (long)d;
}
