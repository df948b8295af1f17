/* rebal-spool: the durable queue between ably-listen and rebal-run (DESIGN
 * section 7): add, run, ls, stat, retry and rm over $REBAL_STATE/spool, one
 * file per item, one folder per state, every state change a rename(2). */
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"

#define SYNOPSIS "add [FILE ...]\n" \
	"       rebal-spool run [-1] [-j JOBS] [-M MAXAGE] [-N NOTIFYCMD] [-n MAX] -- CMD [ARG ...]\n" \
	"       rebal-spool ls [-l] [STATE]\n" \
	"       rebal-spool stat [-o SECONDS]\n" \
	"       rebal-spool retry ID ...\n" \
	"       rebal-spool rm ID ..."

enum { S_NEW, S_CUR, S_DEFERRED, S_DONE, S_FAILED, NSTATE };
static const char *const states[NSTATE] = {
	"new", "cur", "deferred", "done", "failed"
};

#define BACKOFF_BASE	60	/* first retry after a retryable failure */
#define BACKOFF_CAP	3600	/* the backoff doubles up to this */
#define WAIT_CAP	300	/* longest sleep between due checks, s */
#define POLL_NOINOTIFY	5	/* poll interval when inotify is missing */
#define NAME_KEEP	120	/* longest escaped id kept in a file name */

static char *spooldir;		/* $REBAL_STATE/spool */
static int statefd = -1;	/* spool/state.lock, flock()ed per change */
static unsigned long tmpseq;

/* --- paths, names and durable files ----------------------------------- */

static char *
pathf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EX_SOFTWARE, "vasprintf:");
	return s;
}

static char *
ipath(int st, const char *name)
{
	return pathf("%s/%s/%s", spooldir, states[st], name);
}

static int
state_of(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < NSTATE; i++)
		if (strcmp(s, states[i]) == 0)
			return i;
	return -1;
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The file name of an item id: letters, digits, '-', '_' and (not first)
 * '.' kept, every other byte %XX; a long id is cut and gets "~" and a hash
 * of the whole id ('~' never appears in an escaped name). */
static char *
name_of(const char *key)
{
	size_t n = strlen(key), i, o = 0;
	char *s = xmalloc(3 * n + 20);
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)key[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    (c == '.' && i > 0))
			s[o++] = (char)c;
		else
			o += (size_t)sprintf(s + o, "%%%02X", c);
		if (o > NAME_KEEP && i + 1 < n) {
			o = NAME_KEEP;		/* not inside a %XX */
			if (s[o - 1] == '%')
				o -= 1;
			else if (s[o - 2] == '%')
				o -= 2;
			o += (size_t)sprintf(s + o, "~%016llx",
			    (unsigned long long)fnv1a(key));
			break;
		}
	}
	s[o] = '\0';
	return s;
}

static void
sync_dir(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die(EX_IOERR, "%s:", dir);
	if (fsync(fd) < 0)
		die(EX_IOERR, "fsync %s:", dir);
	close(fd);
}

static void
mkdir1(const char *p)
{
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		die(EX_IOERR, "mkdir %s:", p);
}

static void
spool_init(void)
{
	const char *top = getenv("REBAL_STATE");

	if (top == NULL || *top == '\0')
		top = "./state";
	spooldir = pathf("%s/spool", top);
}

static void
spool_mkdirs(void)
{
	static const char *const extra[] = { "tmp", "seen", "latest" };
	const char *top = getenv("REBAL_STATE");
	char *p;
	size_t i;

	if (top == NULL || *top == '\0')
		top = "./state";
	mkdir1(top);
	mkdir1(spooldir);
	for (i = 0; i < NSTATE; i++) {
		mkdir1(p = pathf("%s/%s", spooldir, states[i]));
		free(p);
	}
	for (i = 0; i < sizeof extra / sizeof extra[0]; i++) {
		mkdir1(p = pathf("%s/%s", spooldir, extra[i]));
		free(p);
	}
}

/* Serialise every state change between add, run, retry and rm. */
static void
state_lock(void)
{
	char *p;

	if (statefd < 0) {
		p = pathf("%s/state.lock", spooldir);
		statefd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
		if (statefd < 0)
			die(EX_IOERR, "%s:", p);
		free(p);
	}
	while (flock(statefd, LOCK_EX) < 0)
		if (errno != EINTR)
			die(EX_IOERR, "flock state.lock:");
}

static void
state_unlock(void)
{
	if (statefd >= 0)
		flock(statefd, LOCK_UN);
}

/* A failed write of the temporary file TMP: remove it (a full disk gets
 * its space back; recover() would remove it too) and die, 74, with errno's
 * text. */
_Noreturn static void
tmp_fail(const char *tmp, const char *what, const char *dst)
{
	int e = errno;

	unlink(tmp);
	errno = e;
	if (dst != NULL)
		die(EX_IOERR, "%s %s to %s:", what, tmp, dst);
	die(EX_IOERR, "%s %s:", what, tmp);
}

/* Write TEXT durably to DIR/NAME: a file in tmp/, fsynced, renamed over
 * the target, the directory fsynced. */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char *tmp, *dst;
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	tmp = pathf("%s/tmp/%ld.%lu.%s", spooldir, (long)getpid(), tmpseq++,
	    name);
	dst = pathf("%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		die(EX_IOERR, "%s:", tmp);
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			tmp_fail(tmp, "write", NULL);
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		tmp_fail(tmp, "fsync", NULL);
	if (close(fd) < 0)
		tmp_fail(tmp, "close", NULL);
	if (rename(tmp, dst) < 0)
		tmp_fail(tmp, "rename", dst);
	sync_dir(dir);
	free(tmp);
	free(dst);
}

/* The whole file DIR/NAME (NUL-terminated), or NULL when it is absent. */
static char *
read_file(const char *path, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	ssize_t n;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return NULL;
		die(EX_IOERR, "%s:", path);
	}
	buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(EX_IOERR, "read %s:", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/* --- items ------------------------------------------------------------ */

static jv
sp(jv item, const char *key)
{
	jv s = jvx_get(item, "spool"), v = jvx_get(s, key);

	jv_free(s);
	return v;
}

static jv
sp_set(jv item, const char *key, jv v)
{
	jv s = jvx_get(item, "spool");

	if (jv_get_kind(s) != JV_KIND_OBJECT) {
		jv_free(s);
		s = jv_object();
	}
	s = jv_object_set(s, jv_string(key), v);
	return jv_object_set(item, jv_string("spool"), s);
}

static double
sp_num(jv item, const char *key)
{
	jv v = sp(item, key);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;

	jv_free(v);
	return d;
}

/* A time field of the spool object; DEF when absent or unparsable. */
static double
sp_time(jv item, const char *key, double def)
{
	jv v = sp(item, key);
	double t = def;

	if (jv_get_kind(v) == JV_KIND_STRING &&
	    tm_parse(jv_string_value(v), &t) < 0)
		t = def;
	jv_free(v);
	return t;
}

static jv
jtime(double t)
{
	char buf[32];

	return jv_string(tm_fmt(t, buf));
}

/* The dedup key: the Ably message id, else the payload's event id. */
static const char *
key_of(jv item)
{
	const char *k = jvx_str(item, "id");

	if (k == NULL || *k == '\0')
		k = jvx_str(item, "event_id");
	return k != NULL && *k != '\0' ? k : NULL;
}

static int
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The item NAME in state ST, or jv_invalid() when it is absent or not a
 * JSON object (said on stderr). */
static jv
item_read(int st, const char *name)
{
	char *p = ipath(st, name), *text;
	size_t len;
	jv v;

	if ((text = read_file(p, &len)) == NULL) {
		free(p);
		return jv_invalid();
	}
	v = jvx_parse(text, (int)len);
	if (!jv_is_valid(v) || jv_get_kind(v) != JV_KIND_OBJECT) {
		warnx("%s: not a spool item, left alone", p);
		jv_free(v);
		v = jv_invalid();
	}
	free(text);
	free(p);
	return v;
}

/* Write ITEM (consumed) as NAME in state folder ST. */
static void
item_write(int st, const char *name, jv item)
{
	char *dir = pathf("%s/%s", spooldir, states[st]);
	jv s;

	item = sp_set(item, "updated", jtime(tm_now()));
	s = jv_dump_string(item, 0);
	s = jv_string_append_str(s, "\n");
	write_file(dir, name, jv_string_value(s));
	jv_free(s);
	free(dir);
}

static void
item_move(int from, int to, const char *name)
{
	char *a = ipath(from, name), *b = ipath(to, name), *d;

	if (rename(a, b) < 0)
		die(EX_IOERR, "rename %s to %s:", a, b);
	sync_dir(d = pathf("%s/%s", spooldir, states[to]));
	free(d);
	sync_dir(d = pathf("%s/%s", spooldir, states[from]));
	free(d);
	free(a);
	free(b);
}

/* Move NAME from FROM to TO with the new content ITEM (consumed): the
 * content, which records the target state, is first rewritten in place,
 * then the file is renamed. A crash in between leaves an item whose
 * recorded state differs from its folder; fixup() completes the move. */
static void
item_file(int from, int to, const char *name, jv item)
{
	item = sp_set(item, "state", jv_string(states[to]));
	item_write(from, name, item);
	if (from != to)
		item_move(from, to, name);
}

static int
item_exists(int st, const char *name)
{
	char *p = ipath(st, name);
	struct stat sb;
	int r = lstat(p, &sb) == 0;

	free(p);
	return r;
}

static int
item_find(const char *name)
{
	int st;

	for (st = 0; st < NSTATE; st++)
		if (item_exists(st, name))
			return st;
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in state folder ST, sorted; *np set to the count. */
static char **
list_names(int st, size_t *np)
{
	char *p = pathf("%s/%s", spooldir, states[st]);
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*np = 0;
	if ((d = opendir(p)) == NULL) {
		if (errno != ENOENT)
			die(EX_IOERR, "%s:", p);
		free(p);
		return NULL;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap)
			v = xrealloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
		v[n++] = xstrdup(de->d_name);
	}
	if (errno)
		die(EX_IOERR, "readdir %s:", p);
	closedir(d);
	free(p);
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_str);
	*np = n;
	return v;
}

static void
free_names(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* Recompute spool.accounts_done and accounts_pending from spool.results. */
static jv
accounts_update(jv item)
{
	jv res = sp(item, "results"), done = jv_array(), pend = jv_array();

	if (jv_get_kind(res) == JV_KIND_OBJECT) {
		jv_object_foreach(res, k, v) {
			if (jvx_bool(v, "final", 0))
				done = jv_array_append(done, k);
			else
				pend = jv_array_append(pend, k);
			jv_free(v);
		}
	}
	jv_free(res);
	done = jv_sort(done, jv_copy(done));
	pend = jv_sort(pend, jv_copy(pend));
	item = sp_set(item, "accounts_done", done);
	return sp_set(item, "accounts_pending", pend);
}

static void
copy_field(jv *o, jv item, const char *key)
{
	*o = jv_object_set(*o, jv_string(key), jvx_get(item, key));
}

static void
copy_sp(jv *o, jv item, const char *key, const char *as)
{
	*o = jv_object_set(*o, jv_string(as), sp(item, key));
}

/* Why the accounts still pending wait ("U1: market closed; U2: ..."), from
 * the reasons CMD gave for them; null when it gave none. */
static jv
pending_reasons(jv item)
{
	jv res = sp(item, "results"), out = jv_null();

	if (jv_get_kind(res) != JV_KIND_OBJECT) {
		jv_free(res);
		return out;
	}
	jv_object_foreach(res, k, r) {
		const char *why = jvx_str(r, "reason");

		if (!jvx_bool(r, "final", 0) && why != NULL) {
			int more = jv_get_kind(out) == JV_KIND_STRING;
			jv s = jv_string_fmt("%s%s%s: %s",
			    more ? jv_string_value(out) : "", more ? "; " : "",
			    jv_string_value(k), why);

			jv_free(out);
			out = s;
		}
		jv_free(k);
		jv_free(r);
	}
	jv_free(res);
	return out;
}

/* The line ls, add and run print for an item: who, where, how far. */
static jv
summary(jv item, int st, const char *name, double now)
{
	jv o = jv_object();
	double seen = sp_time(item, "first_seen", now);

	o = jv_object_set(o, jv_string("id"), jv_string(key_of(item) ?
	    key_of(item) : name));
	o = jv_object_set(o, jv_string("name"), jv_string(name));
	o = jv_object_set(o, jv_string("state"), jv_string(states[st]));
	copy_field(&o, item, "strategy");
	copy_field(&o, item, "exec");
	copy_field(&o, item, "event_id");
	copy_field(&o, item, "source");
	copy_field(&o, item, "published_at");
	copy_sp(&o, item, "attempt", "attempts");
	copy_sp(&o, item, "first_seen", "first_seen");
	copy_sp(&o, item, "due", "due");
	copy_sp(&o, item, "started", "started");
	o = jv_object_set(o, jv_string("age"),
	    jv_number(floor(now - seen > 0 ? now - seen : 0)));
	copy_sp(&o, item, "outcome", "outcome");
	copy_sp(&o, item, "superseded_by", "superseded_by");
	copy_sp(&o, item, "accounts_done", "accounts_done");
	copy_sp(&o, item, "accounts_pending", "accounts_pending");
	copy_sp(&o, item, "error", "error");
	o = jv_object_set(o, jv_string("reason"), pending_reasons(item));
	return o;
}

/* An item whose recorded spool.state is not its folder: a move that a
 * crash interrupted. Complete it (a claim is undone: the item was not
 * started). Returns the state the item is in afterwards. */
static int
fixup(int st, const char *name, jv *itemp)
{
	jv v = sp(*itemp, "state");
	int rs = jv_get_kind(v) == JV_KIND_STRING ?
	    state_of(jv_string_value(v)) : -1;

	jv_free(v);
	if (rs < 0 || rs == st)
		return st;
	if (rs == S_CUR) {
		*itemp = sp_set(*itemp, "state", jv_string(states[st]));
		item_write(st, name, jv_copy(*itemp));
		return st;
	}
	warnx("%s: completing an interrupted move from %s/ to %s/", name,
	    states[st], states[rs]);
	item_move(st, rs, name);
	return rs;
}

/* --- add ---------------------------------------------------------------- */

/* The accounts an event is limited to (a manual run for one account), as
 * JSON text; "null" for an event for every account of its strategy. Only
 * events of the same scope supersede each other. */
static char *
scope_of(jv ev)
{
	static const char *const keys[] = { "account", "account_id",
	    "accounts" };
	jv v = jv_null(), d;
	size_t i;
	char *s;

	for (i = 0; i < 3 && jv_get_kind(v) == JV_KIND_NULL; i++) {
		jv_free(v);
		v = jvx_get(ev, keys[i]);
		if (jv_get_kind(v) == JV_KIND_OBJECT && i == 0) {
			jv id = jvx_get(v, "id");

			jv_free(v);
			v = id;
		}
	}
	d = jv_dump_string(v, 0);
	s = xstrdup(jv_string_value(d));
	jv_free(d);
	return s;
}

/* Move older pending rebalance items of STRATEGY to done/ as superseded
 * by KEY (not NAME itself). */
static void
supersede(jv ev, const char *key, const char *self, double now)
{
	const char *strategy = jvx_str(ev, "strategy");
	char *scope = scope_of(ev), *sc;
	static const int pend[] = { S_NEW, S_DEFERRED };
	char **names;
	size_t n, i, j;
	jv item;

	for (j = 0; j < 2; j++) {
		names = list_names(pend[j], &n);
		for (i = 0; i < n; i++) {
			if (strcmp(names[i], self) == 0)
				continue;
			item = item_read(pend[j], names[i]);
			sc = NULL;
			if (!jv_is_valid(item) ||
			    fixup(pend[j], names[i], &item) != pend[j] ||
			    !streq(jvx_str(item, "strategy"), strategy) ||
			    !streq(jvx_str(item, "exec"), "rebalance") ||
			    strcmp(sc = scope_of(item), scope) != 0) {
				free(sc);
				jv_free(item);
				continue;
			}
			free(sc);
			item = sp_set(item, "outcome", jv_string("superseded"));
			item = sp_set(item, "superseded_by", jv_string(key));
			item = sp_set(item, "finished", jtime(now));
			item_file(pend[j], S_DONE, names[i], jv_copy(item));
			warnx("%s: superseded by %s", names[i], key);
			nd_emit(summary(item, S_DONE, names[i], now));
			jv_free(item);
		}
		free_names(names, n);
	}
	free(scope);
}

/* The seen marker P, which keeps the id deduplicated after rm. Written
 * after the item: an add that dies in between leaves the item, never a
 * marker without its item (which would drop the event when it is added
 * again). */
static void
mark_seen(const char *p)
{
	char *d;
	int fd;

	if ((fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666)) < 0)
		die(EX_IOERR, "%s:", p);
	if (fsync(fd) < 0)
		die(EX_IOERR, "fsync %s:", p);
	close(fd);
	sync_dir(d = pathf("%s/seen", spooldir));
	free(d);
}

static void
add_one(jv ev)
{
	char idbuf[96], *name, *p, *sname;
	const char *key, *strategy;
	double now = tm_now(), pe, pm;
	int st, to = S_NEW, stale = 0, whole;
	jv item, marker, mid;
	char *scope;

	ev = jv_object_delete(ev, jv_string("spool"));	/* a re-added item */
	scope = scope_of(ev);
	whole = strcmp(scope, "null") == 0;
	free(scope);

	if ((key = key_of(ev)) == NULL) {
		snprintf(idbuf, sizeof idbuf, "local-%.0f-%ld-%lu", now * 1000,
		    (long)getpid(), tmpseq++);
		ev = jv_object_set(ev, jv_string("id"), jv_string(idbuf));
		key = idbuf;
	}
	name = name_of(key);
	state_lock();
	p = pathf("%s/seen/%s", spooldir, name);
	st = item_find(name);
	if (st >= 0 || access(p, F_OK) == 0) {
		warnx("%s: duplicate id, already %s; dropped", key,
		    st >= 0 ? states[st] : "seen");
		/* an add that died between the item and its marker */
		if (st >= 0 && access(p, F_OK) < 0)
			mark_seen(p);
		goto out;
	}
	strategy = jvx_str(ev, "strategy");
	item = jv_copy(ev);
	item = sp_set(item, "attempt", jv_number(0));
	item = sp_set(item, "failures", jv_number(0));
	item = sp_set(item, "first_seen", jtime(now));
	item = sp_set(item, "due", jtime(now));
	item = sp_set(item, "results", jv_object());
	item = sp_set(item, "accounts_done", jv_array());
	item = sp_set(item, "accounts_pending", jv_array());

	/* A rebalance published before the newest one seen for its strategy
	 * is stale: it is stored as superseded and never run. */
	sname = name_of(strategy);
	marker = jv_null();
	if (streq(jvx_str(ev, "exec"), "rebalance") && whole) {
		char *mp = pathf("%s/latest/%s", spooldir, sname);
		char *text = read_file(mp, NULL);

		if (text != NULL) {
			marker = jvx_parse(text, (int)strlen(text));
			if (jv_get_kind(marker) != JV_KIND_OBJECT) {
				jv_free(marker);
				marker = jv_null();
			}
			free(text);
		}
		free(mp);
		if (jvx_str(ev, "published_at") != NULL &&
		    jvx_str(marker, "published_at") != NULL &&
		    tm_parse(jvx_str(ev, "published_at"), &pe) == 0 &&
		    tm_parse(jvx_str(marker, "published_at"), &pm) == 0 &&
		    pe < pm)
			stale = 1;
	}
	if (stale) {
		mid = jvx_get(marker, "id");
		item = sp_set(item, "outcome", jv_string("superseded"));
		item = sp_set(item, "superseded_by", mid);
		item = sp_set(item, "finished", jtime(now));
		to = S_DONE;
		warnx("%s: published before %s of the same strategy; stored "
		    "as superseded", key, jvx_str(marker, "id") ?
		    jvx_str(marker, "id") : "?");
	}
	item_file(to, to, name, jv_copy(item));
	mark_seen(p);
	nd_emit(summary(item, to, name, now));
	jv_free(item);
	if (streq(jvx_str(ev, "exec"), "rebalance") && !stale) {
		supersede(ev, key, name, now);
		if (whole && (jvx_str(ev, "published_at") != NULL ||
		    jvx_str(marker, "published_at") == NULL)) {
			char *d = pathf("%s/latest", spooldir);
			jv m = JV_OBJECT(jv_string("id"), jv_string(key),
			    jv_string("published_at"),
			    jvx_get(ev, "published_at"));
			jv s = jv_dump_string(m, 0);

			s = jv_string_append_str(s, "\n");
			write_file(d, sname, jv_string_value(s));
			jv_free(s);
			free(d);
		}
	}
	jv_free(marker);
	free(sname);
out:
	state_unlock();
	free(p);
	free(name);
	jv_free(ev);
}

static int
cmd_add(int argc, char **argv)
{
	struct nd_in in;
	int c, i, r, status = 0;
	const char *s;
	jv ev;

	while ((c = getopt(argc, argv, "+h")) != -1)
		switch (c) {
		case 'h':
			usage(SYNOPSIS, 1);
		default:
			usage(SYNOPSIS, 0);
		}
	argc -= optind;
	argv += optind;
	spool_mkdirs();
	for (i = 0; i < (argc ? argc : 1); i++) {
		if (nd_open(&in, argc ? argv[i] : NULL) < 0) {
			status = nd_worst(status, EX_NOINPUT);
			continue;
		}
		while ((r = nd_next(&in, &ev)) != 0) {
			if (r < 0) {
				status = nd_worst(status, EX_DATAERR);
				continue;
			}
			if ((s = jvx_str(ev, "strategy")) == NULL || !*s) {
				warnx("%s:%ld: no \"strategy\" string", in.name,
				    in.line);
				status = nd_worst(status, EX_DATAERR);
				jv_free(ev);
				continue;
			}
			if ((s = jvx_str(ev, "exec")) == NULL || !*s) {
				warnx("%s:%ld: no \"exec\" string", in.name,
				    in.line);
				status = nd_worst(status, EX_DATAERR);
				jv_free(ev);
				continue;
			}
			add_one(ev);
		}
		nd_close(&in);
	}
	return status;
}

/* --- run ---------------------------------------------------------------- */

struct slot {
	pid_t pid;		/* 0: free */
	int fd;			/* CMD's stdout; -1 once closed */
	int exited, status;
	int interrupted;	/* SIGTERM forwarded */
	char *name;
	jv item;		/* as in cur/, updated per result line */
	jv reported;		/* accounts reported in this attempt */
	jv err;			/* last account error of this attempt */
	int newfail;		/* accounts failed for good in this attempt */
	int retryfail;		/* accounts failed retryably in this attempt */
	int failedlines;	/* lines with status failed in this attempt */
	long lines;
	char *buf;
	size_t len, cap;
};

static struct slot *slots;
static int nslots;
static int wlockfd = -1;	/* spool/worker.lock, inherited by CMD */
static double maxage = 7 * 86400;
static const char *notifycmd;

static int
retryable(double code)
{
	return code == EX_UNAVAILABLE || code == EX_TEMPFAIL ||
	    code == EX_PROTOCOL;
}

static int
strategy_busy(const char *s)
{
	int i;

	for (i = 0; i < nslots; i++)
		if (slots[i].pid != 0 &&
		    streq(jvx_str(slots[i].item, "strategy"), s))
			return 1;
	return 0;
}

/* Claim the oldest due item of new/ and deferred/ whose strategy is not
 * running, by rename to cur/. *nextdue: the earliest due time still in
 * the future (0: none). Returns the name, or NULL. */
static char *
claim_next(double now, double *nextdue, jv *itemp)
{
	static const int pend[] = { S_NEW, S_DEFERRED };
	char **names, *best = NULL;
	double due, seen, bdue = 0, bseen = 0;
	int bst = -1;
	size_t n, i, j;
	jv item, bitem = jv_invalid();

	*nextdue = 0;
	state_lock();
	for (j = 0; j < 2; j++) {
		names = list_names(pend[j], &n);
		for (i = 0; i < n; i++) {
			item = item_read(pend[j], names[i]);
			if (!jv_is_valid(item) ||
			    fixup(pend[j], names[i], &item) != pend[j]) {
				jv_free(item);
				continue;
			}
			seen = sp_time(item, "first_seen", 0);
			due = sp_time(item, "due", seen);
			if (due > now) {
				if (*nextdue == 0 || due < *nextdue)
					*nextdue = due;
				jv_free(item);
				continue;
			}
			if (strategy_busy(jvx_str(item, "strategy")) ||
			    (best != NULL && (due > bdue || (due == bdue &&
			    (seen > bseen || (seen == bseen &&
			    strcmp(names[i], best) > 0)))))) {
				jv_free(item);
				continue;
			}
			free(best);
			jv_free(bitem);
			best = xstrdup(names[i]);
			bitem = item;
			bst = pend[j];
			bdue = due;
			bseen = seen;
		}
		free_names(names, n);
	}
	if (best != NULL) {
		bitem = sp_set(bitem, "attempt",
		    jv_number(sp_num(bitem, "attempt") + 1));
		bitem = sp_set(bitem, "started", jtime(now));
		bitem = sp_set(bitem, "state", jv_string(states[S_CUR]));
		item_file(bst, S_CUR, best, jv_copy(bitem));
		*itemp = bitem;
	}
	state_unlock();
	return best;
}

static void
child_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

static void
spawn(struct slot *s, char **cmd)
{
	char *p = ipath(S_CUR, s->name), num[32];
	pid_t parent = getpid();
	int in, out[2];

	if ((in = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		die(EX_IOERR, "%s:", p);
	if (pipe2(out, O_CLOEXEC) < 0)
		die(EX_OSERR, "pipe:");
	switch (s->pid = fork()) {
	case -1:
		die(EX_OSERR, "fork:");
	case 0:
		/* CMD is asked to stop when the worker dies */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(EX_TEMPFAIL);
		if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0)
			_exit(EX_OSERR);
		child_signals();
		setenv("REBAL_SPOOL_ID", key_of(s->item) ? key_of(s->item) :
		    s->name, 1);
		snprintf(num, sizeof num, "%.0f", sp_num(s->item, "attempt"));
		setenv("REBAL_SPOOL_ATTEMPT", num, 1);
		execvp(cmd[0], cmd);
		warnx("%s:", cmd[0]);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(in);
	close(out[1]);
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	s->fd = out[0];
	s->exited = s->interrupted = s->newfail = s->retryfail = 0;
	s->failedlines = 0;
	s->lines = 0;
	s->len = 0;
	s->reported = jv_array();
	s->err = jv_null();
	free(p);
}

/* One result line of CMD: record the account's outcome and persist it at
 * once, so that a worker crash does not forget a finished account. */
static void
apply_result(struct slot *s, jv line, double now)
{
	const char *acct = jvx_account(line), *status = jvx_str(line, "status");
	int ok, failed, final, hascode;
	double code = 0;
	jv res, old, err, r, du, plan;

	if (streq(acct, "-")) {
		warnx("%s: CMD output line %ld names no account; ignored",
		    s->name, s->lines);
		jv_free(line);
		return;
	}
	ok = streq(status, "ok") || streq(status, "skipped");
	failed = streq(status, "failed");
	if (!ok && !failed && !streq(status, "deferred")) {
		warnx("%s: CMD output line %ld: account %s has no status ok, "
		    "deferred, failed or skipped; ignored", s->name, s->lines,
		    acct);
		jv_free(line);
		return;
	}
	s->reported = jv_array_append(s->reported, jv_string(acct));
	s->failedlines += failed;
	res = sp(s->item, "results");
	if (jv_get_kind(res) != JV_KIND_OBJECT) {
		jv_free(res);
		res = jv_object();
	}
	old = jvx_get(res, acct);
	if (jvx_bool(old, "final", 0)) {
		jv_free(old);
		jv_free(res);
		jv_free(line);
		return;
	}
	jv_free(old);
	err = jvx_get(line, "error");
	hascode = jvx_num(err, "code", &code);
	final = ok || (failed && !s->interrupted &&
	    !(hascode && retryable(code)));
	r = JV_OBJECT(jv_string("status"), jv_string(status),
	    jv_string("final"), jv_bool(final),
	    jv_string("attempt"), jv_number(sp_num(s->item, "attempt")),
	    jv_string("at"), jtime(now));
	du = jvx_get(line, "defer_until");
	if (jv_get_kind(du) != JV_KIND_STRING) {
		jv_free(du);
		plan = jvx_get(line, "plan");
		du = jvx_get(plan, "defer_until");
		jv_free(plan);
	}
	if (jv_get_kind(du) == JV_KIND_STRING)
		r = jv_object_set(r, jv_string("defer_until"), du);
	else
		jv_free(du);
	if (jvx_str(line, "reason") != NULL)
		r = jv_object_set(r, jv_string("reason"),
		    jv_string(jvx_str(line, "reason")));
	if (failed && s->interrupted)
		r = jv_object_set(r, jv_string("interrupted"), jv_true());
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		r = jv_object_set(r, jv_string("error"), jv_copy(err));
		if (!ok) {
			jv_free(s->err);
			s->err = jv_object_set(err, jv_string("account"),
			    jv_string(acct));
		} else
			jv_free(err);
	} else
		jv_free(err);
	if (failed && final)
		s->newfail++;
	else if (failed)
		s->retryfail++;
	res = jv_object_set(res, jv_string(acct), r);
	s->item = sp_set(s->item, "results", res);
	s->item = accounts_update(s->item);
	jv_free(line);
	state_lock();
	item_write(S_CUR, s->name, jv_copy(s->item));
	state_unlock();
}

static void
take_lines(struct slot *s, int all)
{
	size_t off = 0, n;
	char *nl;
	jv v;

	while (off < s->len) {
		nl = memchr(s->buf + off, '\n', s->len - off);
		if (nl == NULL && !all)
			break;
		n = nl ? (size_t)(nl - (s->buf + off)) : s->len - off;
		s->lines++;
		while (n > 0 && (s->buf[off + n - 1] == '\r' ||
		    s->buf[off + n - 1] == ' ' || s->buf[off + n - 1] == '\t'))
			n--;
		if (n > 0) {
			v = jvx_parse(s->buf + off, (int)n);
			if (jv_get_kind(v) == JV_KIND_OBJECT)
				apply_result(s, v, tm_now());
			else {
				warnx("%s: CMD output line %ld is not a JSON "
				    "object; ignored", s->name, s->lines);
				jv_free(v);
			}
		}
		off += n;
		while (off < s->len && s->buf[off] != '\n')
			off++;
		if (off < s->len)
			off++;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
}

/* Read what CMD wrote; 0 at end of file or when nothing more is there. */
static int
read_out(struct slot *s)
{
	ssize_t n;

	for (;;) {
		if (s->cap - s->len < 4096)
			s->buf = xrealloc(s->buf, s->cap = s->cap * 2 + 8192);
		n = read(s->fd, s->buf + s->len, s->cap - s->len);
		if (n > 0) {
			s->len += (size_t)n;
			take_lines(s, 0);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			warnx("%s: reading CMD output:", s->name);
		if (n == 0 || errno != EAGAIN) {
			close(s->fd);
			s->fd = -1;
		}
		return 0;
	}
}

static void
notify(int st, const char *name)
{
	char *p;
	pid_t pid;
	int fd, status;

	if (notifycmd == NULL || *notifycmd == '\0')
		return;
	p = ipath(st, name);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		warnx("notify: %s:", p);
		free(p);
		return;
	}
	free(p);
	switch (pid = fork()) {
	case -1:
		warnx("notify: fork:");
		close(fd);
		return;
	case 0:
		if (dup2(fd, 0) < 0 || dup2(2, 1) < 0)
			_exit(EX_OSERR);
		if (wlockfd >= 0)
			close(wlockfd);
		child_signals();
		execl("/bin/sh", "sh", "-c", notifycmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			warnx("notify: waitpid:");
			return;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		warnx("notify: %s: failed (status %d)", notifycmd,
		    WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status));
}

static double
backoff(double failures)
{
	double d = BACKOFF_BASE;

	while (failures-- > 1 && d < BACKOFF_CAP)
		d *= 2;
	return d < BACKOFF_CAP ? d : BACKOFF_CAP;
}

static jv
spool_error(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return JV_OBJECT(jv_string("code"), jv_number(code),
	    jv_string("message"), jv_string(msg),
	    jv_string("tool"), jv_string(progname));
}

static int
reported(struct slot *s, jv acct)
{
	int i, n = jv_array_length(jv_copy(s->reported)), r = 0;

	for (i = 0; i < n && !r; i++)
		r = jv_equal(jv_array_get(jv_copy(s->reported), i),
		    jv_copy(acct));
	return r;
}

/* CMD has exited: file its item by the accounts' outcomes and the exit
 * status. Returns the exit status -1 and -n report for it. */
static int
file_slot(struct slot *s, double now)
{
	int e, sig = 0, to, pending, anyfailed = 0, accfailed, iretry = 0;
	double seen = sp_time(s->item, "first_seen", now), due = 0, c, t;
	double failures = sp_num(s->item, "failures");
	jv item = s->item, res, ierr = jv_null(), v = jv_null();
	char sigbuf[16];

	if (WIFEXITED(s->status))
		e = WEXITSTATUS(s->status);
	else if (WIFSIGNALED(s->status))
		e = 128 + (sig = WTERMSIG(s->status));
	else
		e = EX_SOFTWARE;
	item = sp_set(item, "exit", jv_number(e));
	item = sp_set(item, "finished", jtime(now));
	if (s->interrupted && e != 0) {
		item = sp_set(item, "due", jtime(now));
		item = sp_set(item, "error", spool_error(EX_TEMPFAIL,
		    "interrupted: the worker was stopped during attempt %.0f",
		    sp_num(item, "attempt")));
		to = S_NEW;
		goto file;
	}

	/* An account still pending that CMD, all ok, did not mention is
	 * no longer CMD's (disabled, removed): it is finished, skipped. */
	res = sp(item, "results");
	if (jv_get_kind(res) == JV_KIND_OBJECT) {
		jv out = jv_copy(res);

		jv_object_foreach(res, k, r) {
			if (e == 0 && !jvx_bool(r, "final", 0) &&
			    !reported(s, k)) {
				r = jv_object_set(r, jv_string("status"),
				    jv_string("skipped"));
				r = jv_object_set(r, jv_string("final"),
				    jv_true());
				r = jv_object_set(r, jv_string("note"),
				    jv_string("not reported by CMD"));
				out = jv_object_set(out, jv_copy(k), jv_copy(r));
			}
			if (jvx_bool(r, "final", 0) &&
			    streq(jvx_str(r, "status"), "failed"))
				anyfailed = 1;
			jv_free(k);
			jv_free(r);
		}
		item = sp_set(item, "results", out);
		item = accounts_update(item);
	}
	jv_free(res);
	v = sp(item, "accounts_pending");
	pending = jv_get_kind(v) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(v)) > 0;
	accfailed = s->failedlines > 0;

	if (sig) {
		snprintf(sigbuf, sizeof sigbuf, "%s", strsignal(sig));
		ierr = spool_error(e, "CMD killed by signal %d (%s)", sig,
		    sigbuf);
		iretry = 1;
	} else if (e == EX_TEMPFAIL && !pending)
		ierr = spool_error(e, "CMD exited 75 and reported no pending "
		    "account"), iretry = 1;
	else if (e == EX_FAIL && !accfailed && !pending)
		ierr = spool_error(e, "CMD exited 1 and reported no failed "
		    "account");
	else if (e != 0 && e != EX_TEMPFAIL && e != EX_FAIL) {
		ierr = spool_error(e, "CMD exited %d", e);
		iretry = retryable(e) || e == 126 || e == 127;
	}
	if (jv_get_kind(ierr) == JV_KIND_OBJECT)
		item = sp_set(item, "error", jv_copy(ierr));
	else
		item = sp_set(item, "error", jv_copy(s->err));

	if (jv_get_kind(ierr) == JV_KIND_OBJECT && !iretry) {
		to = S_FAILED;
		item = sp_set(item, "outcome", jv_string("failed"));
	} else if (pending || iretry) {
		failures = s->retryfail > 0 || iretry ? failures + 1 : 0;
		item = sp_set(item, "failures", jv_number(failures));
		if (now - seen >= maxage) {
			to = S_FAILED;
			item = sp_set(item, "outcome", jv_string("expired"));
			item = sp_set(item, "error", spool_error(EX_TEMPFAIL,
			    "still pending after %.0f attempts and %.0f s "
			    "(maximum age %.0f s)", sp_num(item, "attempt"),
			    now - seen, maxage));
		} else {
			/* the earliest of the accounts' defer_until and the
			 * backoff for failures */
			res = sp(item, "results");
			if (iretry)
				due = now + backoff(failures);
			if (jv_get_kind(res) != JV_KIND_OBJECT) {
				jv_free(res);
				res = jv_object();
			}
			jv_object_foreach(res, k, r) {
				if (!jvx_bool(r, "final", 0)) {
					const char *du = jvx_str(r,
					    "defer_until");

					c = du != NULL && tm_parse(du, &t) ==
					    0 && t > now ? t :
					    now + backoff(failures);
					if (due == 0 || c < due)
						due = c;
				}
				jv_free(k);
				jv_free(r);
			}
			jv_free(res);
			if (due == 0)
				due = now + backoff(failures);
			if (due > seen + maxage)
				due = seen + maxage;
			item = sp_set(item, "due", jtime(due));
			to = S_DEFERRED;
		}
	} else if (anyfailed) {
		to = S_FAILED;
		item = sp_set(item, "outcome", jv_string("failed"));
	} else {
		to = S_DONE;
		item = sp_set(item, "outcome", jv_string("ok"));
	}
	/* what went wrong with the whole item, in the worker's log (the
	 * accounts' own errors are CMD's to say) */
	if (jv_get_kind(ierr) == JV_KIND_OBJECT) {
		jv sv = jvx_get(item, "spool");

		warnx("%s: %s: %s%s", s->name, jvx_str(ierr, "message"),
		    to == S_FAILED ? "failed" : "retried at ",
		    to == S_FAILED ? "" : jvx_str(sv, "due") ?
		    jvx_str(sv, "due") : "?");
		jv_free(sv);
	}
file:
	jv_free(v);
	jv_free(ierr);
	state_lock();
	item_file(S_CUR, to, s->name, jv_copy(item));
	state_unlock();
	if (to == S_FAILED || (to == S_DEFERRED && s->newfail > 0))
		notify(to, s->name);
	nd_emit(summary(item, to, s->name, now));
	jv_free(item);
	s->item = jv_invalid();
	return to == S_DEFERRED ? EX_TEMPFAIL : to == S_FAILED ? EX_FAIL : 0;
}

/* Left-overs of dead processes: tmp/ files of dead writers, and items
 * in cur/ of a dead worker (back to new/, with the accounts that did
 * finish kept). Runs with the worker lock held. */
static void
recover(double now)
{
	static const int others[] = { S_NEW, S_DEFERRED, S_FAILED };
	char **names, *p, *d;
	size_t n, i, j;
	long pid;
	int rs;
	jv item, v;

	state_lock();
	d = pathf("%s/tmp", spooldir);
	names = NULL;
	{
		DIR *dp = opendir(d);
		struct dirent *de;

		while (dp != NULL && (de = readdir(dp)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			pid = strtol(de->d_name, NULL, 10);
			if (pid > 0 && (kill((pid_t)pid, 0) == 0 ||
			    errno != ESRCH))
				continue;
			p = pathf("%s/%s", d, de->d_name);
			if (unlink(p) < 0 && errno != ENOENT)
				warnx("%s:", p);
			free(p);
		}
		if (dp != NULL)
			closedir(dp);
	}
	free(d);
	names = list_names(S_CUR, &n);
	for (i = 0; i < n; i++) {
		item = item_read(S_CUR, names[i]);
		if (!jv_is_valid(item))
			continue;
		v = sp(item, "state");
		rs = jv_get_kind(v) == JV_KIND_STRING ?
		    state_of(jv_string_value(v)) : -1;
		jv_free(v);
		if (rs >= 0 && rs != S_CUR) {
			warnx("%s: completing an interrupted move from cur/ to "
			    "%s/", names[i], states[rs]);
			item_move(S_CUR, rs, names[i]);
		} else {
			warnx("%s: recovered from cur/ (attempt %.0f was "
			    "interrupted)", names[i], sp_num(item, "attempt"));
			item = sp_set(item, "due", jtime(now));
			item = sp_set(item, "recovered",
			    jv_number(sp_num(item, "recovered") + 1));
			item_file(S_CUR, S_NEW, names[i], jv_copy(item));
		}
		jv_free(item);
	}
	free_names(names, n);
	for (j = 0; j < sizeof others / sizeof others[0]; j++) {
		names = list_names(others[j], &n);
		for (i = 0; i < n; i++) {
			item = item_read(others[j], names[i]);
			if (jv_is_valid(item))
				fixup(others[j], names[i], &item);
			jv_free(item);
		}
		free_names(names, n);
	}
	state_unlock();
}

/* Is the worker lock held (by a worker or a CMD it left running)? */
static int
worker_running(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char *p = pathf("%s/worker.lock", spooldir);
	int fd = open(p, O_RDONLY | O_CLOEXEC), r = 0;

	free(p);
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0)
		r = fl.l_type != F_UNLCK;
	close(fd);
	return r;
}

static int
in_path(const char *cmd)
{
	const char *path = getenv("PATH"), *e;
	char *p;
	int ok = 0;

	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0;
	if (path == NULL)
		path = "/usr/bin:/bin";
	while (!ok && *path) {
		e = strchr(path, ':');
		if (e == NULL)
			e = path + strlen(path);
		p = pathf("%.*s%s%s", (int)(e - path), path, e > path ? "/" :
		    "./", cmd);
		ok = access(p, X_OK) == 0;
		free(p);
		path = *e ? e + 1 : e;
	}
	return ok;
}

/* A duration: seconds, or a number with s, m, h or d. */
static double
opt_duration(int opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end != arg && *end != '\0' && end[1] == '\0')
		switch (*end++) {
		case 's':
			break;
		case 'm':
			v *= 60;
			break;
		case 'h':
			v *= 3600;
			break;
		case 'd':
			v *= 86400;
			break;
		default:
			end--;
		}
	if (errno || end == arg || *end != '\0' || !isfinite(v) || v <= 0)
		die(EX_USAGE, "-%c: invalid duration '%s' (seconds, or a "
		    "number with s, m, h or d)", opt, arg);
	return v;
}

static int
cmd_run(int argc, char **argv)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct signalfd_siginfo si;
	struct pollfd *pfd;
	sigset_t set;
	long maxn = 0, started = 0, jobs = 1;
	int c, i, sfd, ifd, nrun, term = 0, drain = 0, st, worst = 0, nfd;
	int anyfail = 0, anydefer = 0, timeout, status;
	double now, nextdue;
	char *p, *name;
	pid_t pid;
	jv item;

	notifycmd = getenv("REBAL_NOTIFY_CMD");
	while ((c = getopt(argc, argv, "+1hj:M:N:n:")) != -1)
		switch (c) {
		case '1':
			maxn = 1;
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'j':
			jobs = opt_long(c, optarg, 1, 64);
			break;
		case 'M':
			maxage = opt_duration(c, optarg);
			break;
		case 'N':
			notifycmd = optarg;
			break;
		case 'n':
			maxn = opt_long(c, optarg, 1, LONG_MAX);
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(SYNOPSIS, 0);
	if (!in_path(argv[0]))
		die(EX_CONFIG, "%s: command not found or not executable",
		    argv[0]);
	drain = maxn > 0;
	spool_mkdirs();

	/* One worker per spool: an OFD lock, which CMD inherits, so that a
	 * CMD left running by a dead worker still keeps others out. */
	p = pathf("%s/worker.lock", spooldir);
	if ((wlockfd = open(p, O_RDWR | O_CREAT, 0666)) < 0)
		die(EX_IOERR, "%s:", p);
	free(p);
	if (fcntl(wlockfd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			die(EX_TEMPFAIL, "%s: busy: another worker, or a CMD "
			    "of a worker that died, is running", spooldir);
		die(EX_IOERR, "lock %s/worker.lock:", spooldir);
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		die(EX_OSERR, "signalfd:");
	if ((ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) >= 0) {
		p = pathf("%s/new", spooldir);
		if (inotify_add_watch(ifd, p, IN_MOVED_TO | IN_CREATE) < 0) {
			warnx("inotify %s: (polling every %d s)", p,
			    POLL_NOINOTIFY);
			close(ifd);
			ifd = -1;
		}
		free(p);
	} else
		warnx("inotify: (polling every %d s)", POLL_NOINOTIFY);

	slots = xmalloc((size_t)jobs * sizeof *slots);
	memset(slots, 0, (size_t)jobs * sizeof *slots);
	nslots = (int)jobs;
	pfd = xmalloc(((size_t)jobs + 2) * sizeof *pfd);
	recover(tm_now());

	for (;;) {
		now = tm_now();
		nextdue = 0;
		for (i = 0, nrun = 0; i < nslots; i++)
			nrun += slots[i].pid != 0;
		while (!term && nrun < nslots &&
		    (maxn == 0 || started < maxn)) {
			for (i = 0; slots[i].pid != 0; i++)
				;
			if ((name = claim_next(now, &nextdue, &item)) == NULL)
				break;
			slots[i].name = name;
			slots[i].item = item;
			spawn(&slots[i], argv);
			started++;
			nrun++;
		}
		if (nrun == 0 && (term || drain))
			break;

		nfd = 0;
		pfd[nfd++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (ifd >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = ifd,
			    .events = POLLIN };
		for (i = 0; i < nslots; i++)
			if (slots[i].pid != 0 && slots[i].fd >= 0)
				pfd[nfd++] = (struct pollfd){ .fd = slots[i].fd,
				    .events = POLLIN };
		timeout = -1;
		if (nextdue > 0)
			timeout = (int)fmin(ceil((nextdue - now) * 1000) + 1,
			    WAIT_CAP * 1000.0);
		if (ifd < 0 && (timeout < 0 || timeout > POLL_NOINOTIFY * 1000))
			timeout = POLL_NOINOTIFY * 1000;
		if (poll(pfd, (nfds_t)nfd, timeout) < 0 && errno != EINTR)
			die(EX_OSERR, "poll:");

		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGCHLD)
				continue;
			if (!term)
				warnx("signal %d: stopping%s", si.ssi_signo,
				    nrun ? "; SIGTERM sent to CMD" : "");
			term = 1;
			for (i = 0; i < nslots; i++)
				if (slots[i].pid != 0 && !slots[i].exited &&
				    !slots[i].interrupted) {
					kill(slots[i].pid, SIGTERM);
					slots[i].interrupted = 1;
				}
		}
		if (ifd >= 0) {
			char ev[4096];

			while (read(ifd, ev, sizeof ev) > 0)
				;
		}
		for (i = 0; i < nslots; i++)
			if (slots[i].pid != 0 && slots[i].fd >= 0)
				read_out(&slots[i]);
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (i = 0; i < nslots; i++)
				if (slots[i].pid == pid) {
					slots[i].exited = 1;
					slots[i].status = status;
				}
		for (i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];

			if (s->pid == 0 || !s->exited)
				continue;
			if (s->fd >= 0) {
				read_out(s);
				if (s->fd >= 0)	/* held open by a grandchild */
					close(s->fd);
				s->fd = -1;
			}
			take_lines(s, 1);
			st = file_slot(s, tm_now());
			anyfail |= st == EX_FAIL;
			anydefer |= st == EX_TEMPFAIL;
			jv_free(s->reported);
			jv_free(s->err);
			free(s->name);
			s->name = NULL;
			s->pid = 0;
		}
	}
	for (i = 0; i < nslots; i++)
		free(slots[i].buf);
	free(slots);
	free(pfd);
	worst = term ? 0 : anyfail ? EX_FAIL : anydefer ? EX_TEMPFAIL : 0;
	return worst;
}

/* --- ls, stat, retry, rm ---------------------------------------------- */

static int
cmd_ls(int argc, char **argv)
{
	int c, st, only = -1, full = 0;
	double now = tm_now();
	char **names;
	size_t n, i;
	jv item;

	while ((c = getopt(argc, argv, "+hl")) != -1)
		switch (c) {
		case 'h':
			usage(SYNOPSIS, 1);
		case 'l':
			full = 1;
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage(SYNOPSIS, 0);
	if (argc == 1 && (only = state_of(argv[0])) < 0)
		die(EX_USAGE, "%s: no such state (new, cur, deferred, done, "
		    "failed)", argv[0]);
	for (st = 0; st < NSTATE; st++) {
		if (only >= 0 && st != only)
			continue;
		names = list_names(st, &n);
		for (i = 0; i < n; i++) {
			item = item_read(st, names[i]);
			if (!jv_is_valid(item))
				continue;
			if (full)
				nd_emit(sp_set(item, "state",
				    jv_string(states[st])));
			else {
				nd_emit(summary(item, st, names[i], now));
				jv_free(item);
			}
		}
		free_names(names, n);
	}
	return 0;
}

static int
cmd_stat(int argc, char **argv)
{
	double now = tm_now(), threshold = 3600, age, late, oldest = -1;
	double overdue = 0, seen;
	int c, st, count[NSTATE] = { 0 }, healthy;
	jv o, oldid = jv_null();
	char **names;
	size_t n, i;
	jv item;

	while ((c = getopt(argc, argv, "+ho:")) != -1)
		switch (c) {
		case 'h':
			usage(SYNOPSIS, 1);
		case 'o':
			threshold = opt_duration(c, optarg);
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	if (argc > optind)
		usage(SYNOPSIS, 0);
	for (st = 0; st < NSTATE; st++) {
		names = list_names(st, &n);
		count[st] = (int)n;
		for (i = 0; st <= S_DEFERRED && i < n; i++) {
			item = item_read(st, names[i]);
			if (!jv_is_valid(item))
				continue;
			seen = sp_time(item, "first_seen", now);
			age = now - seen;
			if (age > oldest) {
				oldest = age;
				jv_free(oldid);
				oldid = jv_string(key_of(item) ? key_of(item) :
				    names[i]);
			}
			/* how long it has waited for the worker: since it
			 * was due, or since it started */
			late = now - (st == S_CUR ? sp_time(item, "started",
			    now) : sp_time(item, "due", seen));
			if (late > overdue)
				overdue = late;
			jv_free(item);
		}
		free_names(names, n);
	}
	healthy = count[S_FAILED] == 0 && overdue <= threshold;
	o = jv_object();
	for (st = 0; st < NSTATE; st++)
		o = jv_object_set(o, jv_string(states[st]),
		    jv_number(count[st]));
	o = jv_object_set(o, jv_string("oldest_pending_age"), oldest < 0 ?
	    jv_null() : jv_number(floor(oldest)));
	o = jv_object_set(o, jv_string("oldest_pending"), oldid);
	o = jv_object_set(o, jv_string("overdue"), jv_number(floor(overdue)));
	o = jv_object_set(o, jv_string("threshold"), jv_number(threshold));
	o = jv_object_set(o, jv_string("worker"), jv_bool(worker_running()));
	o = jv_object_set(o, jv_string("healthy"), jv_bool(healthy));
	nd_emit(o);
	return healthy ? 0 : EX_FAIL;
}

/* The state and name of item ID (an id or a file name); -1 if none. */
static int
find_id(const char *id, char **namep)
{
	char *name = name_of(id);
	int st;

	if ((st = item_find(name)) < 0 && strchr(id, '/') == NULL &&
	    *id != '.' && (st = item_find(id)) >= 0) {
		free(name);
		name = xstrdup(id);
	}
	*namep = name;
	return st;
}

static int
cmd_idop(int argc, char **argv, int retry)
{
	double now = tm_now();
	int c, i, st, status = 0;
	char *name;
	jv item, res, out;

	while ((c = getopt(argc, argv, "+h")) != -1)
		switch (c) {
		case 'h':
			usage(SYNOPSIS, 1);
		default:
			usage(SYNOPSIS, 0);
		}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(SYNOPSIS, 0);
	spool_mkdirs();
	for (i = 0; i < argc; i++) {
		state_lock();
		if ((st = find_id(argv[i], &name)) < 0) {
			warnx("%s: no such item", argv[i]);
			status = nd_worst(status, EX_FAIL);
		} else if (!jv_is_valid(item = item_read(st, name))) {
			status = nd_worst(status, EX_DATAERR);
		} else if (retry && st != S_FAILED && st != S_DEFERRED) {
			warnx("%s: is in %s/; only failed and deferred items "
			    "can be retried", argv[i], states[st]);
			status = nd_worst(status, EX_FAIL);
			jv_free(item);
		} else if (retry) {
			/* due now, backoff reset, and the accounts that
			 * failed for good get another chance */
			res = sp(item, "results");
			out = jv_object();
			if (jv_get_kind(res) == JV_KIND_OBJECT) {
				jv_object_foreach(res, k, r) {
					if (jvx_bool(r, "final", 0) &&
					    streq(jvx_str(r, "status"),
					    "failed"))
						r = jv_object_set(r,
						    jv_string("final"),
						    jv_false());
					out = jv_object_set(out, k, r);
				}
			}
			jv_free(res);
			item = sp_set(item, "results", out);
			item = accounts_update(item);
			item = sp_set(item, "due", jtime(now));
			item = sp_set(item, "failures", jv_number(0));
			item = sp_set(item, "outcome", jv_null());
			item = sp_set(item, "retried",
			    jv_number(sp_num(item, "retried") + 1));
			item_file(st, S_NEW, name, jv_copy(item));
			nd_emit(summary(item, S_NEW, name, now));
			jv_free(item);
		} else if (st == S_CUR && worker_running()) {
			warnx("%s: is running; stop the worker first", argv[i]);
			status = nd_worst(status, EX_TEMPFAIL);
			jv_free(item);
		} else {
			char *p = ipath(st, name), *d;

			if (unlink(p) < 0)
				die(EX_IOERR, "unlink %s:", p);
			sync_dir(d = pathf("%s/%s", spooldir, states[st]));
			free(d);
			free(p);
			nd_emit(summary(item, st, name, now));
			jv_free(item);
		}
		state_unlock();
		free(name);
	}
	return status;
}

int
main(int argc, char **argv)
{
	int status;

	diag_init(argv[0]);
	if (argc < 2)
		usage(SYNOPSIS, 0);
	if (strcmp(argv[1], "-h") == 0)
		usage(SYNOPSIS, 1);
	spool_init();
	argc--;
	argv++;
	if (strcmp(argv[0], "add") == 0)
		status = cmd_add(argc, argv);
	else if (strcmp(argv[0], "run") == 0)
		status = cmd_run(argc, argv);
	else if (strcmp(argv[0], "ls") == 0)
		status = cmd_ls(argc, argv);
	else if (strcmp(argv[0], "stat") == 0)
		status = cmd_stat(argc, argv);
	else if (strcmp(argv[0], "retry") == 0)
		status = cmd_idop(argc, argv, 1);
	else if (strcmp(argv[0], "rm") == 0)
		status = cmd_idop(argc, argv, 0);
	else {
		warnx("%s: unknown command", argv[0]);
		usage(SYNOPSIS, 0);
	}
	nd_finish();
	free(spooldir);
	return status;
}
