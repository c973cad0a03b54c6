#include "bytes.h"

#include <stdlib.h>
#include <string.h>

int bytes_append(bytes *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        return -2;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64 << 10;
        while (cap < b->len + n)
            cap = cap > b->max / 2 ? b->max : cap * 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void bytes_free(bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
