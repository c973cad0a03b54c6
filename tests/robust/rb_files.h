/* Temporary files and descriptor counting for the robustness tests. */
#ifndef RB_FILES_H
#define RB_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Write `len` bytes to a new temporary file named after `tag`; returns its
 * path (malloc'd; caller unlinks and frees) or NULL. */
char *rb_temp_file(const char *tag, const void *data, size_t len);

/* Number of open file descriptors of this process (/proc/self/fd), or -1. */
int rb_count_fds(void);

#endif
