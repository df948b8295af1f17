/* tap: a minimal TAP producer for the C unit tests in test/unit. Each check
 * prints "ok N - what" or "not ok N - what (file:line)"; tap_done() prints the
 * plan and returns the exit status (1 when anything failed). */
#ifndef REBAL_TAP_H
#define REBAL_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *what)
{
	tap_n++;
	if (cond)
		printf("ok %d - %s\n", tap_n, what);
	else {
		tap_failed++;
		printf("not ok %d - %s (%s:%d)\n", tap_n, what, file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, what) tap_ok((cond) != 0, __FILE__, __LINE__, (what))
static inline int
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *what)
{
	int r = tap_ok(got != NULL && strcmp(got, want) == 0, file, line, what);

	if (!r)
		printf("#   got \"%s\", want \"%s\"\n", got ? got : "(null)",
		    want);
	return r;
}

static inline int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *what)
{
	int r = tap_ok(got == want, file, line, what);

	if (!r)
		printf("#   got %lld, want %lld\n", got, want);
	return r;
}

/* Each argument is evaluated once. */
#define is_str(got, want, what) tap_is_str((got), (want), __FILE__, __LINE__, (what))
#define is_int(got, want, what) tap_is_int((long long)(got), (long long)(want), \
	__FILE__, __LINE__, (what))

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif
