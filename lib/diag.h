/* diag: the program name, diagnostics on stderr as "tool: message", and the
 * exit statuses of DESIGN section 3 (sysexits(3) values, never 255). */
#ifndef REBAL_DIAG_H
#define REBAL_DIAG_H

#include <sysexits.h>	/* EX_USAGE 64 ... EX_CONFIG 78 */

#ifndef EX_OK
#define EX_OK 0
#endif
#define EX_FAIL 1	/* some records failed, the rest went on */

extern const char *progname;

/* Takes the tool's name from ARGV0 and cuts ARGV0 itself down to it, so
 * that getopt's own messages say "tool: ..." too. */
void diag_init(char *argv0);
/* A format ending in ':' gets ": strerror(errno)" appended (sbase rule). */
void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print "usage: USAGE" to stdout and exit 0 (-h), or to stderr and exit 64. */
_Noreturn void usage(const char *synopsis, int help);

/* Parse a number option; dies with 64 naming the option on bad input. */
long opt_long(int opt, const char *arg, long min, long max);
double opt_double(int opt, const char *arg, double min, double max);

/* The value of secret NAME: $NAME, else the contents of the file $NAME_FILE
 * (one trailing newline stripped). NULL when neither is set. Dies with 78 when
 * NAME_FILE cannot be read. The caller frees the result. Never printed. */
char *secret_get(const char *name);
/* Never print S (copied; ignored when shorter than 4 bytes): every later
 * diagnostic has each occurrence replaced by "***". diag_mask(S, N) is a
 * malloc'd, NUL-terminated copy of the N bytes at S (up to a NUL) with the
 * same replacement, for text from a peer that is cut or written elsewhere. */
void diag_secret(const char *s);
char *diag_mask(const char *s, size_t n);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
