/* faultfs.so: an LD_PRELOAD shim for the disk-full rows of the fault
 * matrix (test/faults-disk.bats). While the disk is "full", calls on files
 * under FAULTFS_PATH fail with ENOSPC, as on a real full file system:
 *
 *   FAULTFS_PATH  the path prefix concerned (absolute); unset: nothing fails
 *   FAULTFS_FULL  a flag file: the disk is full while it exists (unset:
 *                 always), so a test fills and frees the disk of processes
 *                 that run on
 *   FAULTFS_OPS   what fails, comma-separated (default all but stdio):
 *                 write   write, pwrite, writev: the first call on a file
 *                         writes half of its bytes (a short write), the
 *                         next ones fail
 *                 fsync   fsync, fdatasync
 *                 rename  rename, renameat, renameat2 from or into the path
 *                 create  open or creat of a file that does not exist yet
 *                 mkdir   mkdir, mkdirat
 *                 stdio   a file opened for writing (open, fopen) is backed
 *                         by /dev/full: every later write fails, whoever
 *                         makes it, stdio included (for shell redirections
 *                         and tools writing their standard output)
 *   FAULTFS_KILL  1: SIGKILL the process instead of failing (after the short
 *                 write for write): a crash at that point
 *   FAULTFS_LOG   a file that gets one line per failure: "pid op path"
 *
 * Built without the sanitizers (it is preloaded into sanitized tools, which
 * then need ASAN_OPTIONS=verify_asan_link_order=0). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define NSHORT	4096	/* fds tracked for the short write */

static unsigned char shorted[NSHORT];

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static int
opt_on(const char *op)
{
	const char *ops = getenv("FAULTFS_OPS"), *p;
	size_t n = strlen(op);

	if (ops == NULL || *ops == '\0')
		return strcmp(op, "stdio") != 0;
	for (p = ops; (p = strstr(p, op)) != NULL; p += n)
		if ((p == ops || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

static int
full(void)
{
	const char *flag = getenv("FAULTFS_FULL");
	struct stat sb;

	return flag == NULL || *flag == '\0' || stat(flag, &sb) == 0;
}

/* Is PATH (relative to DIRFD) under FAULTFS_PATH? */
static int
under(int dirfd, const char *path)
{
	const char *pre = getenv("FAULTFS_PATH");
	char buf[2 * PATH_MAX + 2], dir[PATH_MAX], lnk[64];
	size_t n;
	ssize_t k;

	if (pre == NULL || *pre == '\0' || path == NULL)
		return 0;
	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			if (getcwd(dir, sizeof dir) == NULL)
				return 0;
		} else {
			snprintf(lnk, sizeof lnk, "/proc/self/fd/%d", dirfd);
			if ((k = readlink(lnk, dir, sizeof dir - 1)) < 0)
				return 0;
			dir[k] = '\0';
		}
		snprintf(buf, sizeof buf, "%s/%s", dir, path);
		path = buf;
	}
	n = strlen(pre);
	while (n > 1 && pre[n - 1] == '/')
		n--;
	return strncmp(path, pre, n) == 0 && (path[n] == '/' ||
	    path[n] == '\0');
}

static int
fd_under(int fd)
{
	char lnk[64], path[PATH_MAX];
	ssize_t k;

	snprintf(lnk, sizeof lnk, "/proc/self/fd/%d", fd);
	if ((k = readlink(lnk, path, sizeof path - 1)) < 0)
		return 0;
	path[k] = '\0';
	return under(AT_FDCWD, path);
}

static void
logf_(const char *op, const char *path)
{
	const char *log = getenv("FAULTFS_LOG");
	char line[PATH_MAX + 96];
	int fd, n;

	if (log == NULL || *log == '\0')
		return;
	REAL(open);
	REAL(write);
	if ((fd = real_open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0666)) < 0)
		return;
	n = snprintf(line, sizeof line, "%ld %s %s\n", (long)getpid(), op,
	    path ? path : "-");
	if (n > 0)
		(void)real_write(fd, line, (size_t)n < sizeof line ?
		    (size_t)n : sizeof line - 1);
	close(fd);
}

static void
logfd(const char *op, int fd)
{
	char lnk[64], path[PATH_MAX];
	ssize_t k;

	snprintf(lnk, sizeof lnk, "/proc/self/fd/%d", fd);
	if ((k = readlink(lnk, path, sizeof path - 1)) < 0)
		k = 0;
	path[k] = '\0';
	logf_(op, path);
}

/* The fault: SIGKILL, or ENOSPC. */
static int
fail(void)
{
	if (getenv("FAULTFS_KILL") != NULL && *getenv("FAULTFS_KILL") == '1')
		raise(SIGKILL);
	errno = ENOSPC;
	return -1;
}

static int
hit_fd(const char *op, int fd)
{
	if (!opt_on(op) || !full() || !fd_under(fd))
		return 0;
	logfd(op, fd);
	return 1;
}

static int
hit_path(const char *op, int dirfd, const char *path)
{
	if (!opt_on(op) || !full() || !under(dirfd, path))
		return 0;
	logf_(op, path);
	return 1;
}

/* write: half of the first write on a file, then ENOSPC. */
static int
write_hit(int fd, size_t *np)
{
	if (!hit_fd("write", fd))
		return 0;
	if (fd >= 0 && fd < NSHORT && !shorted[fd] && *np > 1) {
		shorted[fd] = 1;
		*np /= 2;
		return 2;
	}
	return 1;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	ssize_t r;
	int h;

	REAL(write);
	if ((h = write_hit(fd, &n)) == 1)
		return fail();
	r = real_write(fd, buf, n);
	if (h == 2 && getenv("FAULTFS_KILL") != NULL &&
	    *getenv("FAULTFS_KILL") == '1')
		raise(SIGKILL);
	return r;
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite);
	if (write_hit(fd, &n) == 1)
		return fail();
	return real_pwrite(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(writev);
	if (hit_fd("write", fd))
		return fail();
	return real_writev(fd, iov, cnt);
}

int
close(int fd)
{
	REAL(close);
	if (fd >= 0 && fd < NSHORT)
		shorted[fd] = 0;
	return real_close(fd);
}

int
fsync(int fd)
{
	REAL(fsync);
	if (hit_fd("fsync", fd))
		return fail();
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	REAL(fdatasync);
	if (hit_fd("fsync", fd))
		return fail();
	return real_fdatasync(fd);
}

int
rename(const char *a, const char *b)
{
	REAL(rename);
	if (hit_path("rename", AT_FDCWD, b) ||
	    hit_path("rename", AT_FDCWD, a))
		return fail();
	return real_rename(a, b);
}

int
renameat(int da, const char *a, int db, const char *b)
{
	REAL(renameat);
	if (hit_path("rename", db, b) || hit_path("rename", da, a))
		return fail();
	return real_renameat(da, a, db, b);
}

int
renameat2(int da, const char *a, int db, const char *b, unsigned int fl)
{
	REAL(renameat2);
	if (hit_path("rename", db, b) || hit_path("rename", da, a))
		return fail();
	return real_renameat2(da, a, db, b, fl);
}

/* mkdir of a directory that does not exist yet. */
static int
mkdir_hit(int d, const char *p)
{
	struct stat sb;

	return fstatat(d, p, &sb, 0) < 0 && hit_path("mkdir", d, p);
}

int
mkdir(const char *p, mode_t m)
{
	REAL(mkdir);
	if (mkdir_hit(AT_FDCWD, p))
		return fail();
	return real_mkdir(p, m);
}

int
mkdirat(int d, const char *p, mode_t m)
{
	REAL(mkdirat);
	if (mkdir_hit(d, p))
		return fail();
	return real_mkdirat(d, p, m);
}

/* Before an open: fail the creation of a new file. */
static int
open_pre(int d, const char *p, int fl)
{
	struct stat sb;

	if (!(fl & O_CREAT) || !opt_on("create") || !full() || !under(d, p))
		return 0;
	if (fstatat(d, p, &sb, 0) == 0)
		return 0;
	logf_("create", p);
	return 1;
}

/* After an open for writing: the fd backed by /dev/full (stdio). */
static int
open_post(int fd, int fl)
{
	int z, e = errno;

	REAL(open);
	if (fd < 0 || (fl & O_ACCMODE) == O_RDONLY || !hit_fd("stdio", fd))
		return fd;
	if ((z = real_open("/dev/full", O_WRONLY | O_CLOEXEC)) >= 0) {
		dup3(z, fd, fl & O_CLOEXEC);
		REAL(close);
		real_close(z);
	}
	errno = e;
	return fd;
}

static mode_t
mode_arg(int fl, va_list ap)
{
	return (fl & O_CREAT) || (fl & O_TMPFILE) == O_TMPFILE ?
	    (mode_t)va_arg(ap, int) : 0;
}

int
open(const char *p, int fl, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, fl);
	m = mode_arg(fl, ap);
	va_end(ap);
	REAL(open);
	if (open_pre(AT_FDCWD, p, fl))
		return fail();
	return open_post(real_open(p, fl, m), fl);
}

int
open64(const char *p, int fl, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, fl);
	m = mode_arg(fl, ap);
	va_end(ap);
	REAL(open64);
	if (open_pre(AT_FDCWD, p, fl))
		return fail();
	return open_post(real_open64(p, fl, m), fl);
}

int
openat(int d, const char *p, int fl, ...)
{
	va_list ap;
	mode_t m;

	va_start(ap, fl);
	m = mode_arg(fl, ap);
	va_end(ap);
	REAL(openat);
	if (open_pre(d, p, fl))
		return fail();
	return open_post(real_openat(d, p, fl, m), fl);
}

int __open_2(const char *, int);
int
__open_2(const char *p, int fl)
{
	REAL(__open_2);
	if (open_pre(AT_FDCWD, p, fl))
		return fail();
	return open_post(real___open_2(p, fl), fl);
}

int
creat(const char *p, mode_t m)
{
	return open(p, O_WRONLY | O_CREAT | O_TRUNC, m);
}

static int
fopen_flags(const char *mode)
{
	int fl = strchr(mode, '+') ? O_RDWR : mode[0] == 'r' ? O_RDONLY :
	    O_WRONLY;

	return fl | (mode[0] == 'r' ? 0 : O_CREAT);
}

FILE *
fopen(const char *p, const char *mode)
{
	FILE *f;

	REAL(fopen);
	if (open_pre(AT_FDCWD, p, fopen_flags(mode))) {
		fail();
		return NULL;
	}
	if ((f = real_fopen(p, mode)) != NULL)
		open_post(fileno(f), fopen_flags(mode));
	return f;
}

FILE *
fopen64(const char *p, const char *mode)
{
	return fopen(p, mode);
}
