/* Shared by the option-struct compatibility tests, which are compiled against
 * different copies of covidcam.h (so they cannot use api_util). */
#ifndef COVIDCAM_TEST_OPTIONS_COMMON_H
#define COVIDCAM_TEST_OPTIONS_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tests/fixtures/basic.safetensors: ResNet, 3 classes (tools/make_fixtures.py). */
static covidcam_model *oc_load(void)
{
    char path[4096], err[COVIDCAM_ERRBUF_SIZE];
    const char *dir = getenv("CC_FIXTURES");
    covidcam_model *m = NULL;
    snprintf(path, sizeof path, "%s/basic.safetensors", dir ? dir : "tests/fixtures");
    if (covidcam_model_load(path, &m, err, sizeof err) != COVIDCAM_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        abort();
    }
    return m;
}

/* A deterministic normalized input ramp for the model. */
static float *oc_tensor(const covidcam_model *m)
{
    int c = covidcam_model_input_channels(m), s = covidcam_model_input_size(m);
    size_t n = (size_t)c * (size_t)s * (size_t)s;
    float *t = malloc(n * sizeof *t);
    for (size_t i = 0; t && i < n; i++)
        t[i] = (float)((double)(i % 97) / 48.0 - 1.0);
    return t;
}

#endif
