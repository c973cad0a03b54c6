/* A growing byte buffer with a hard size limit (the request body limit). */
#ifndef COVIDCAM_SERVER_BYTES_H
#define COVIDCAM_SERVER_BYTES_H

#include <stddef.h>

typedef struct bytes {
    unsigned char *data;
    size_t len, cap, max;
} bytes;

/* Append `n` bytes: 0, -1 when out of memory, -2 when len would pass max
 * (nothing is appended then). */
int bytes_append(bytes *b, const void *p, size_t n);

void bytes_free(bytes *b);

#endif
