/* The images covidcam-faithfulness measures: a seeded sample of each class
 * folder of a dataset root (ROOT/<class>/<image>, the trainer's layout). */
#ifndef COVIDCAM_FAITH_SAMPLE_H
#define COVIDCAM_FAITH_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct faith_item {
    char *path;
    char *truth; /* the class folder's name */
} faith_item;

typedef struct faith_sample {
    faith_item *items;
    size_t n, cap;
} faith_sample;

/* Add up to per_class regular files (all when 0) of every subfolder of root,
 * chosen by a shuffle seeded with `seed`, in sorted order. Subfolders and
 * files are sorted by name (bytes); hidden ones are skipped. Returns 0, or
 * -1 with a message naming the culprit in msg (an unreadable root, no class
 * folder, out of memory). */
int faith_sample_add(faith_sample *s, const char *root, int per_class, uint64_t seed, char *msg,
                     size_t msg_size);

void faith_sample_free(faith_sample *s);

#endif
