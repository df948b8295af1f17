/* nd: NDJSON input with positions, output with write-error detection. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "nd.h"

int
nd_open(struct nd_in *in, const char *path)
{
	memset(in, 0, sizeof *in);
	if (path == NULL || strcmp(path, "-") == 0) {
		in->f = stdin;
		in->name = "<stdin>";
		return 0;
	}
	in->name = path;
	if ((in->f = fopen(path, "r")) == NULL) {
		warnx("%s:", path);
		return -1;
	}
	return 0;
}

int
nd_next(struct nd_in *in, jv *out)
{
	ssize_t n;
	jv v;

	for (;;) {
		errno = 0;
		n = getline(&in->buf, &in->cap, in->f);
		if (n < 0) {
			if (ferror(in->f))
				die(EX_IOERR, "%s:", in->name);
			return 0;
		}
		in->line++;
		while (n > 0 && (in->buf[n - 1] == '\n' || in->buf[n - 1] == '\r'))
			in->buf[--n] = '\0';
		in->len = (size_t)n;
		if (strspn(in->buf, " \t") == (size_t)n)
			continue;
		if (memchr(in->buf, '\0', (size_t)n) != NULL) {
			warnx("%s:%ld: NUL byte in input", in->name, in->line);
			in->bad++;
			return -1;
		}
		v = jvx_parse(in->buf, (int)n);
		if (!jv_is_valid(v)) {
			jv msg = jv_invalid_get_msg(v);
			warnx("%s:%ld: %s", in->name, in->line,
			    jv_get_kind(msg) == JV_KIND_STRING ?
			    jv_string_value(msg) : "invalid JSON");
			jv_free(msg);
			in->bad++;
			return -1;
		}
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			warnx("%s:%ld: expected a JSON object, got %s", in->name,
			    in->line, jv_kind_name(jv_get_kind(v)));
			jv_free(v);
			in->bad++;
			return -1;
		}
		*out = v;
		return 1;
	}
}

void
nd_close(struct nd_in *in)
{
	if (in->f != NULL && in->f != stdin)
		fclose(in->f);
	free(in->buf);
	in->buf = NULL;
	in->f = NULL;
}

int
nd_worst(int a, int b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	if (a == EX_FAIL)
		return b;
	if (b == EX_FAIL)
		return a;
	return a > b ? a : b;
}

static int
each_file(const char *path, int (*fn)(jv, void *), void *ctx)
{
	struct nd_in in;
	int r, st = 0;
	jv rec;

	if (nd_open(&in, path) < 0)
		return EX_NOINPUT;
	while ((r = nd_next(&in, &rec)) != 0) {
		if (r < 0) {
			st = nd_worst(st, EX_DATAERR);
			continue;
		}
		st = nd_worst(st, fn(rec, ctx));
	}
	nd_close(&in);
	return st;
}

int
nd_each(int argc, char **argv, int (*fn)(jv rec, void *ctx), void *ctx)
{
	int i, st = 0;

	if (argc == 0)
		return each_file(NULL, fn, ctx);
	for (i = 0; i < argc; i++)
		st = nd_worst(st, each_file(argv[i], fn, ctx));
	return st;
}

/* The file of $REBAL_TEE, opened at the first record: -1 none, -2 not yet. */
static int tee_fd = -2;

static void
tee_line(const char *buf, size_t len)
{
	const char *path;
	ssize_t n;

	if (tee_fd == -2) {
		tee_fd = -1;
		if ((path = getenv("REBAL_TEE")) != NULL && *path != '\0' &&
		    (tee_fd = open(path, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC, 0666)) < 0)
			die(EX_IOERR, "REBAL_TEE: %s:", path);
	}
	if (tee_fd < 0)
		return;
	/* one write: a record appended whole, between other writers' */
	while (len > 0) {
		if ((n = write(tee_fd, buf, len)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			die(EX_IOERR, "write error: REBAL_TEE:");
		}
		buf += n;
		len -= (size_t)n;
	}
}

void
nd_emit(jv v)
{
	jv s = jv_string_append_buf(jv_dump_string(v, 0), "\n", 1);
	const char *buf = jv_string_value(s);
	size_t len = (size_t)jv_string_length_bytes(jv_copy(s));

	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) == EOF) {
		jv_free(s);
		die(EX_IOERR, "write error: stdout:");
	}
	tee_line(buf, len);
	jv_free(s);
}

void
nd_finish(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		die(EX_IOERR, "write error: stdout:");
	if (fclose(stdout) == EOF)
		die(EX_IOERR, "write error: stdout:");
}
