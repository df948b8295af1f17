/* atom: atomic file replacement and mkdir -p. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atom.h"
#include "diag.h"

static int
sync_dir(const char *path)
{
	char *dir = xstrdup(path), *slash;
	int fd, rv = 0;

	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1) {
		free(dir);
		return -1;
	}
	if (fsync(fd) == -1 && errno != EINVAL)
		rv = -1;
	close(fd);
	free(dir);
	return rv;
}

int
atom_write(const char *path, const void *buf, size_t len)
{
	size_t n = strlen(path) + 32, off = 0;
	char *tmp = xmalloc(n);
	const char *p = buf;
	ssize_t w;
	int fd, saved;

	snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		goto fail;
	while (off < len) {
		w = write(fd, p + off, len - off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			goto fail_fd;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail_fd;
	if (close(fd) == -1) {
		fd = -1;
		goto fail_tmp;
	}
	if (rename(tmp, path) == -1)
		goto fail_tmp;
	free(tmp);
	return sync_dir(path);
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
fail_tmp:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	free(tmp);
	return -1;
}

int
atom_mkdirs(const char *path, mode_t mode)
{
	char *p, *s, c;
	struct stat st;
	int saved;

	if (*path == '\0') {
		errno = ENOENT;
		return -1;
	}
	p = xstrdup(path);
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		/* a directory made here is synced into its parent: a file
		 * atom_write puts in it then survives a power loss */
		if (mkdir(p, mode) == 0 ? sync_dir(p) == -1 : errno != EEXIST) {
			saved = errno;
			free(p);
			errno = saved;
			return -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	if (stat(p, &st) == -1) {
		saved = errno;
		free(p);
		errno = saved;
		return -1;
	}
	free(p);
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}
