/* Standard base64 (RFC 4648, with padding), for PNGs inside JSON. */
#ifndef COVIDCAM_SERVER_BASE64_H
#define COVIDCAM_SERVER_BASE64_H

#include <stddef.h>

/* A new NUL-terminated string holding `n` bytes at `data` in base64; the
 * caller frees it. NULL when out of memory. */
char *base64_encode(const unsigned char *data, size_t n);

#endif
