#include "denormal.h"

#include <stdint.h>
#include <string.h>

size_t cc_flush_denormals(float *x, size_t n)
{
    size_t flushed = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        /* exponent 0 and a non-zero mantissa */
        if ((bits & 0x7f800000u) == 0 && (bits & 0x007fffffu) != 0) {
            bits &= 0x80000000u;
            memcpy(&x[i], &bits, sizeof bits);
            flushed++;
        }
    }
    return flushed;
}
