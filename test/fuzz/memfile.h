/* memfile: the fuzz input as a file with a path (a memfd seen through
 * /proc/self/fd), for loaders that take a path. Rewritten per input. */
#ifndef REBAL_FUZZ_MEMFILE_H
#define REBAL_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *
memfile(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd == -1) {
		if ((fd = memfd_create("fuzz.yaml", 0)) == -1) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("memfile");
		abort();
	}
	return path;
}

#endif
