/* A set of strings (hash table), for finding two inputs that would write the
 * same output names in linear time. */
#ifndef COVIDCAM_NAME_SET_H
#define COVIDCAM_NAME_SET_H

#include <stddef.h>

typedef struct name_set {
    char **slot; /* NULL = empty; strings are owned */
    size_t cap, count;
} name_set;

/* Add a copy of `name`. Returns 1 if it was added, 0 if it was already there,
 * -1 when out of memory. */
int name_set_add(name_set *s, const char *name);

/* Free every string and the table; the set is empty and reusable after. */
void name_set_free(name_set *s);

#endif
