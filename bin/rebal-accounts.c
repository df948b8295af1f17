/* rebal-accounts: accounts.yaml as NDJSON account records, or (-j) events
 * joined to the enabled accounts that follow their strategy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acct.h"
#include "diag.h"
#include "jvx.h"
#include "nd.h"

static const char synopsis[] =
    "[-Ahj] [-a account] [-f file] [-m paper|live|all] [-s strategy] "
    "[file ...]";

static struct acct_list accts;
static const char *file = "accounts.yaml";
static int all, mode;
static char **want_acct, **want_strat;
static int nacct, nstrat;

static int
listed(char **v, int n, const char *s, int icase)
{
	int i;

	for (i = 0; i < n; i++)
		if (icase ? !strcasecmp(v[i], s) : !strcmp(v[i], s))
			return 1;
	return 0;
}

/* Why A is not selected by the options, or NULL when it is. */
static const char *
why_not(const struct acct *a, char *buf, size_t n)
{
	if (!a->enabled && !all)
		snprintf(buf, n, "is disabled");
	else if (!(a->type & mode))
		snprintf(buf, n, "is a %s account; the mode is %s",
		    acct_type_name(a->type), acct_type_name(mode));
	else if (nstrat > 0 &&
	    (a->strategy == NULL ||
	    !listed(want_strat, nstrat, a->strategy, 0)))
		snprintf(buf, n, "follows strategy '%s', not selected by -s",
		    a->strategy ? a->strategy : "");
	else if (nacct > 0 && !listed(want_acct, nacct, a->id, 1))
		snprintf(buf, n, "is not selected by -a");
	else
		return NULL;
	return buf;
}

static int
list(void)
{
	char why[160];
	size_t i;
	int j, st = 0;

	for (i = 0; i < accts.n; i++)
		if (why_not(&accts.v[i], why, sizeof why) == NULL)
			nd_emit(acct_jv(&accts.v[i]));
	for (j = 0; j < nacct; j++) {
		const struct acct *a = acct_find(&accts, want_acct[j]);

		if (a == NULL)
			warnx("%s: no such account in %s", want_acct[j], file);
		else if (why_not(a, why, sizeof why) != NULL)
			warnx("%s: %s", a->id, why);
		else
			continue;
		st = EX_FAIL;
	}
	return st;
}

static jv
job(jv ev, const struct acct *a)
{
	jv j = jv_copy(ev);

	if (jvx_str(ev, "strategy") == NULL)
		j = jv_object_set(j, jv_string("strategy"),
		    jv_string(a->strategy));
	return jv_object_set(j, jv_string("account"), acct_jv(a));
}

/* The account an event addresses: "account" (a string, or an object with
 * "id"), else "account_id". NULL when none; *bad when one is malformed. */
static const char *
addressed(jv ev, int *bad)
{
	jv v = jvx_get(ev, "account");
	const char *s = NULL;

	*bad = 0;
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jvx_str(ev, "account");
	else if (jv_get_kind(v) == JV_KIND_OBJECT) {
		if ((s = jvx_str(v, "id")) == NULL)
			*bad = 1;
	} else if (jv_get_kind(v) != JV_KIND_NULL)
		*bad = 1;
	jv_free(v);	/* EV still holds what S points into */
	if (s != NULL || *bad)
		return s;
	v = jvx_get(ev, "account_id");
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jvx_str(ev, "account_id");
	else if (jv_get_kind(v) != JV_KIND_NULL)
		*bad = 1;
	jv_free(v);
	return s;
}

/* Fan one event out; returns its exit status. */
static int
join1(jv ev, const char *name, long line)
{
	jv sv = jvx_get(ev, "strategy");
	const char *strat = jvx_str(ev, "strategy"), *id;
	const struct acct *a;
	char why[160];
	size_t i;
	int bad, j, n = 0, st = 0;

	if (jv_get_kind(sv) != JV_KIND_NULL && strat == NULL) {
		jv_free(sv);
		warnx("%s:%ld: strategy: expected a string", name, line);
		return EX_DATAERR;
	}
	jv_free(sv);
	id = addressed(ev, &bad);
	if (bad) {
		warnx("%s:%ld: account: expected an account id", name, line);
		return EX_DATAERR;
	}
	if (id == NULL && strat == NULL) {
		warnx("%s:%ld: event has neither strategy nor account_id",
		    name, line);
		return EX_DATAERR;
	}

	if (id != NULL) {
		if ((a = acct_find(&accts, id)) == NULL) {
			warnx("%s:%ld: %s: no such account in %s", name, line,
			    id, file);
			return EX_FAIL;
		}
		if (why_not(a, why, sizeof why) == NULL) {
			if (strat == NULL || (a->strategy != NULL &&
			    !strcmp(strat, a->strategy))) {
				nd_emit(job(ev, a));
				return 0;
			}
			snprintf(why, sizeof why, "follows strategy '%s', not "
			    "the event's '%s'", a->strategy ? a->strategy : "",
			    strat);
		}
		warnx("%s:%ld: %s: %s", name, line, a->id, why);
		return EX_FAIL;
	}

	if (nstrat > 0 && !listed(want_strat, nstrat, strat, 0))
		return 0;	/* -s filters events too */
	for (i = 0; i < accts.n; i++) {
		a = &accts.v[i];
		if (a->strategy != NULL && !strcmp(a->strategy, strat) &&
		    why_not(a, why, sizeof why) == NULL) {
			nd_emit(job(ev, a));
			n++;
		}
	}
	/* an account asked for by -a that this event does not reach */
	for (j = 0; j < nacct; j++) {
		a = acct_find(&accts, want_acct[j]);
		if (a == NULL)
			warnx("%s:%ld: %s: no such account in %s", name, line,
			    want_acct[j], file);
		else if (why_not(a, why, sizeof why) != NULL)
			warnx("%s:%ld: %s: %s", name, line, a->id, why);
		else if (strcmp(a->strategy, strat) != 0)
			warnx("%s:%ld: %s: follows strategy '%s', not the "
			    "event's '%s'", name, line, a->id, a->strategy,
			    strat);
		else
			continue;
		st = EX_FAIL;
	}
	if (n == 0 && nacct == 0)
		warnx("%s:%ld: no enabled %s account follows strategy '%s'",
		    name, line, mode == ACCT_ANY ? "paper or live" :
		    acct_type_name(mode), strat);
	return st;
}

static int
join(int argc, char **argv)
{
	struct nd_in in;
	jv ev;
	int i, r, st = 0;

	for (i = 0; i < (argc > 0 ? argc : 1); i++) {
		if (nd_open(&in, argc > 0 ? argv[i] : NULL) < 0) {
			st = nd_worst(st, EX_NOINPUT);
			continue;
		}
		while ((r = nd_next(&in, &ev)) != 0) {
			if (r < 0) {
				st = nd_worst(st, EX_DATAERR);
				continue;
			}
			st = nd_worst(st, join1(ev, in.name, in.line));
			jv_free(ev);
		}
		nd_close(&in);
	}
	return st;
}

int
main(int argc, char *argv[])
{
	int c, joining = 0, st;

	diag_init(argv[0]);
	mode = 0;
	while ((c = getopt(argc, argv, "Aa:f:hjm:s:")) != -1) {
		switch (c) {
		case 'A':
			all = 1;
			break;
		case 'a':
			want_acct = xrealloc(want_acct,
			    (size_t)(nacct + 1) * sizeof *want_acct);
			want_acct[nacct++] = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			usage(synopsis, 1);
		case 'j':
			joining = 1;
			break;
		case 'm':
			if ((mode = acct_mode(optarg)) < 0)
				die(EX_USAGE, "-m: expected paper, live or "
				    "all, got '%s'", optarg);
			break;
		case 's':
			want_strat = xrealloc(want_strat,
			    (size_t)(nstrat + 1) * sizeof *want_strat);
			want_strat[nstrat++] = optarg;
			break;
		default:
			usage(synopsis, 0);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && !joining)
		usage(synopsis, 0);
	if (all && joining)
		die(EX_USAGE, "-A: disabled accounts are never joined to "
		    "events");
	if (mode == 0 && (mode = acct_mode_env()) < 0)
		return EX_CONFIG;

	if ((st = acct_load(file, &accts)) != 0)
		return st;
	st = joining ? join(argc, argv) : list();
	acct_free(&accts);
	free(want_acct);
	free(want_strat);
	nd_finish();
	return st;
}
