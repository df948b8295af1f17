/* diag: program name, stderr diagnostics, exit statuses, option parsing. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

const char *progname = "rebal";

static char **secrets;		/* diag_secret: never printed */
static size_t nsecrets;

void
diag_init(char *argv0)
{
	char *s;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	if ((s = strrchr(argv0, '/')) != NULL && s[1] != '\0')
		memmove(argv0, s + 1, strlen(s + 1) + 1);
	progname = argv0;
}

void
diag_secret(const char *s)
{
	char **v;

	if (s == NULL || strlen(s) < 4)
		return;
	if ((v = realloc(secrets, (nsecrets + 1) * sizeof *v)) == NULL ||
	    (v[nsecrets] = strdup(s)) == NULL)
		die(EX_SOFTWARE, "diag_secret:");
	secrets = v;
	nsecrets++;
}

/* Replace each registered secret in the string S by "***", in place (a
 * secret is longer than its replacement). */
static void
mask(char *s)
{
	size_t i, k;
	char *p;

	for (i = 0; i < nsecrets; i++) {
		k = strlen(secrets[i]);
		while ((p = strstr(s, secrets[i])) != NULL) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + k, strlen(p + k) + 1);
		}
	}
}

char *
diag_mask(const char *s, size_t n)
{
	char *t;

	n = strnlen(s, n);
	t = xmalloc(n + 1);
	memcpy(t, s, n);
	t[n] = '\0';
	mask(t);
	return t;
}

static void
vwarn(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);
	char sb[1024], *b = sb;
	va_list aq;
	int k;

	fprintf(stderr, "%s: ", progname);
	if (nsecrets == 0)
		vfprintf(stderr, fmt, ap);
	else {
		va_copy(aq, ap);
		k = vsnprintf(sb, sizeof sb, fmt, ap);
		if (k >= (int)sizeof sb && (b = malloc((size_t)k + 1)) != NULL)
			vsnprintf(b, (size_t)k + 1, fmt, aq);
		va_end(aq);
		if (b == NULL)		/* out of memory: no partial secret */
			b = strcpy(sb, "(message withheld)");
		else if (k < 0)
			sb[0] = '\0';
		mask(b);
		fputs(b, stderr);
		if (b != sb)
			free(b);
	}
	if (n > 0 && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
	fflush(stderr);
}

void
warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	if (status <= 0 || status > 125)
		status = EX_SOFTWARE;
	exit(status);
}

void
usage(const char *synopsis, int help)
{
	FILE *f = help ? stdout : stderr;

	fprintf(f, "usage: %s %s\n", progname, synopsis);
	if (help) {
		if (fflush(stdout) == EOF || ferror(stdout))
			exit(EX_IOERR);
		exit(0);
	}
	exit(EX_USAGE);
}

long
opt_long(int opt, const char *arg, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < min || v > max)
		die(EX_USAGE, "-%c: invalid number '%s' (%ld..%ld)", opt, arg,
		    min, max);
	return v;
}

double
opt_double(int opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end != '\0' || !isfinite(v) || v < min ||
	    v > max)
		die(EX_USAGE, "-%c: invalid number '%s' (%g..%g)", opt, arg,
		    min, max);
	return v;
}

char *
secret_get(const char *name)
{
	char fname[256];
	const char *v, *path;
	FILE *f;
	char *buf;
	size_t len = 0, cap = 256;
	int c;

	v = getenv(name);
	if (v != NULL && *v != '\0')
		return xstrdup(v);
	snprintf(fname, sizeof fname, "%s_FILE", name);
	path = getenv(fname);
	if (path == NULL || *path == '\0')
		return NULL;
	if ((f = fopen(path, "r")) == NULL)
		die(EX_CONFIG, "%s: %s:", fname, path);
	buf = xmalloc(cap);
	while ((c = getc(f)) != EOF) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		buf[len++] = (char)c;
	}
	if (ferror(f))
		die(EX_CONFIG, "%s: %s:", fname, path);
	fclose(f);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die(EX_SOFTWARE, "malloc:");
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die(EX_SOFTWARE, "realloc:");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die(EX_SOFTWARE, "strdup:");
	return p;
}

/*
 * Sanitizer builds (make SANITIZE=1, the fuzzers): a sanitizer report
 * (memory error, leak, undefined behaviour) exits DIAG_SAN_EXIT, not the
 * runtimes' default 1, which is EX_FAIL here and would let a leak on a
 * "some records failed" path pass a test that expects 1. Every tool links
 * this file, so the hooks reach every binary; ASAN_OPTIONS and friends
 * still override them.
 */
#if defined(__SANITIZE_ADDRESS__)
#define DIAG_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIAG_SAN 1
#endif
#endif
#ifdef DIAG_SAN
#define DIAG_SAN_EXIT "86"
const char *__asan_default_options(void);
const char *__lsan_default_options(void);
const char *__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	return "exitcode=" DIAG_SAN_EXIT;
}

const char *
__lsan_default_options(void)
{
	return "exitcode=" DIAG_SAN_EXIT;
}

const char *
__ubsan_default_options(void)
{
	return "exitcode=" DIAG_SAN_EXIT ":print_stacktrace=1";
}
#endif
