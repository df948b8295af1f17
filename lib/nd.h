/* nd: NDJSON records in (libjq's jv parser, errors as "<file>:<line>:") and out
 * (one compact object per line, flushed, write errors exit 74). */
#ifndef REBAL_ND_H
#define REBAL_ND_H

#include <stdio.h>
#include <jv.h>

struct nd_in {
	FILE *f;
	const char *name;	/* "<stdin>" or the path */
	long line;
	char *buf;		/* the last line read, without its newline */
	size_t cap;
	size_t len;		/* its length (it may hold a NUL) */
	int bad;		/* lines rejected so far */
};

/* Open PATH ("-" or NULL: stdin). -1 (with a diagnostic) when it cannot. */
int nd_open(struct nd_in *in, const char *path);
/* Next object: 1 and *out set; 0 at end; -1 on a line that is not a JSON
 * object (diagnostic "name:line: reason" printed, in->bad counted). */
int nd_next(struct nd_in *in, jv *out);
void nd_close(struct nd_in *in);

/* Call FN for each object of the operands (stdin when none). FN returns an
 * exit status for that record (0 ok). Returns the worst status: 65 if a line
 * was malformed, 66 (EX_NOINPUT) if a file could not be opened, else the
 * highest FN status. */
int nd_each(int argc, char **argv, int (*fn)(jv rec, void *ctx), void *ctx);

/* Write V (consumed) as one line on stdout and flush; exit 74 on error.
 * With $REBAL_TEE naming a file, the line is also appended to it (one
 * write(2), O_APPEND; exit 74 when it cannot be): rebal-account(1) keeps
 * each stage's record in the run directory so, with no process per stage. */
void nd_emit(jv v);
/* Close stdout, exit 74 if anything failed. Call once before exiting. */
void nd_finish(void);
/* Combine two exit statuses: the more serious one (0 < 1 < others). */
int nd_worst(int a, int b);

#endif
