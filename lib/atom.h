/* atom: replace a file atomically (temporary file beside it, fsync, rename,
 * fsync of the directory), so a crash leaves the old or the new content. */
#ifndef REBAL_ATOM_H
#define REBAL_ATOM_H

#include <stddef.h>
#include <sys/types.h>

/* Write LEN bytes of BUF to PATH atomically, mode 0600 (the umask does not
 * widen it). 0 on success; -1 with errno set, the target untouched. */
int atom_write(const char *path, const void *buf, size_t len);

/* mkdir -p PATH with MODE for the directories it creates, each synced into
 * its parent. 0 or -1/errno. */
int atom_mkdirs(const char *path, mode_t mode);

#endif
