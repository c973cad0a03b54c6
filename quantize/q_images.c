#include "q_images.h"

#include <stdlib.h>
#include <string.h>

const char *q_class_of(const cli_input *item, char *buf, size_t size)
{
    const char *slash = item->rel ? strchr(item->rel, '/') : NULL;
    size_t n = slash ? (size_t)(slash - item->rel) : 0;
    if (n >= size)
        n = 0;
    memcpy(buf, item->rel, n);
    buf[n] = '\0';
    return buf;
}

/* Items are sorted by path, so a class folder is one run of items. */
static size_t run_end(const cli_inputs *in, size_t from)
{
    char a[256], b[256];
    q_class_of(&in->item[from], a, sizeof a);
    size_t i = from + 1;
    while (i < in->count && strcmp(q_class_of(&in->item[i], b, sizeof b), a) == 0)
        i++;
    return i;
}

long q_pick(const cli_inputs *in, long want, size_t **out)
{
    size_t folders = 0, n = 0;
    for (size_t i = 0; i < in->count; i = run_end(in, i))
        folders++;
    if (!(*out = malloc((in->count ? in->count : 1) * sizeof **out)))
        return -1;
    size_t f = 0;
    for (size_t i = 0; i < in->count; f++) {
        size_t end = run_end(in, i), have = end - i;
        size_t take = want <= 0 ? have : (size_t)want / folders + (f < (size_t)want % folders);
        if (take > have)
            take = have;
        for (size_t j = 0; j < take; j++)
            (*out)[n++] = i + j * have / take;
        i = end;
    }
    return (long)n;
}
