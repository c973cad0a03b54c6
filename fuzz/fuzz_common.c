#include "fuzz_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CC_FUZZ_MODEL
#define CC_FUZZ_MODEL "tests/fixtures/basic.safetensors"
#endif

/* Process-wide fixtures of the harness (not of the library, which keeps no
 * global state): loaded on first use, released at exit. */
static covidcam_model *model;
static covidcam_session *session;

static void release(void)
{
    covidcam_session_free(session);
    covidcam_model_free(model);
}

const covidcam_model *fz_model(void)
{
    if (model)
        return model;
    const char *path = getenv("COVIDCAM_FUZZ_MODEL");
    if (!path || !*path)
        path = CC_FUZZ_MODEL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_model_load(path, &model, err, sizeof err) != COVIDCAM_OK) {
        fprintf(stderr, "fuzz: cannot load the model %s: %s\n", path, err);
        abort();
    }
    atexit(release);
    return model;
}

covidcam_session *fz_session(void)
{
    if (session)
        return session;
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_session_create(fz_model(), &o, &session, err, sizeof err) != COVIDCAM_OK) {
        fprintf(stderr, "fuzz: cannot create a session: %s\n", err);
        abort();
    }
    return session;
}

void fz_check(int ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz: invariant violated: %s\n", what);
    abort();
}

void fz_check_classification(const float *probs, const float *logits, int nc, int top)
{
    double sum = 0;
    fz_check(top >= 0 && top < nc, "top class in range");
    for (int i = 0; i < nc; i++) {
        fz_check(probs[i] >= 0 && probs[i] <= 1, "probability in [0, 1]");
        fz_check(isfinite(logits[i]), "logit is finite (an overflow must be an error)");
        fz_check(logits[i] <= logits[top], "top class has the largest logit");
        sum += probs[i];
    }
    fz_check(fabs(sum - 1) < 1e-3, "probabilities sum to 1");
}

uint8_t fz_u8(fz_reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

uint16_t fz_u16(fz_reader *r)
{
    uint16_t lo = fz_u8(r);
    return (uint16_t)(lo | fz_u8(r) << 8);
}
