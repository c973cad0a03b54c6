#include "name_set.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding `name`, or the empty slot where it belongs (linear probing). */
static char **find(char **slot, size_t cap, const char *name)
{
    size_t i = (size_t)hash(name) & (cap - 1);
    while (slot[i] && strcmp(slot[i], name))
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* Keep the load factor at most 1/2. */
static int grow(name_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **slot = calloc(cap, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i])
            *find(slot, cap, s->slot[i]) = s->slot[i];
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

int name_set_add(name_set *s, const char *name)
{
    if (2 * (s->count + 1) > s->cap && grow(s))
        return -1;
    char **at = find(s->slot, s->cap, name);
    if (*at)
        return 0;
    if (!(*at = strdup(name)))
        return -1;
    s->count++;
    return 1;
}

void name_set_free(name_set *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}
