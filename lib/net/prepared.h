/* Weights of a model converted for reduced-precision sessions (bf16, int8), made
 * once per model, by the first session that needs them, and shared read-only
 * by every later session whose primitives want the same layouts. */
#ifndef COVIDCAM_PREPARED_H
#define COVIDCAM_PREPARED_H

#include <pthread.h>

#include "qweights.h"
#include "resnet.h"

/* The converted weights of every convolution, in the model's structure. */
typedef struct cc_prepared {
    cc_qnet *q;          /* int8: the quantized weights (plain), biases and scales */
    cc_layout_plan plan; /* their layouts (and type) */
    void *stem;
    void *(*blocks)[4]; /* per block: conv[0..2], then the downsample */
    int num_blocks;
} cc_prepared;

/* What a model keeps: the lock that makes preparation thread-safe, and what
 * was prepared so far (NULL until a session asks). */
typedef struct cc_prep_cache {
    pthread_mutex_t lock;
    cc_prepared *bf16;
    cc_prepared *int8;
} cc_prep_cache;

/* A new empty cache (at model load); free with cc_prep_cache_free. */
covidcam_status cc_prep_cache_create(cc_prep_cache **out, cc_err *e);
void cc_prep_cache_free(cc_prep_cache *c);

/* The weights of model m in type dt (CC_DNN_BF16, or CC_DNN_U8 for int8
 * nets, which needs the model's calibration scales: cc_qnet_make), made now
 * if no session made them before: layouts as oneDNN picks them under the
 * calling thread's thread count, then one conversion of each (fp32 or
 * quantized) weight. Owned by the model
 * (valid while it lives). Any thread; concurrent callers wait for one
 * preparation. A failure (OUT_OF_MEMORY, BACKEND) leaves nothing behind, so a
 * later call tries again. */
covidcam_status cc_model_prepared(const covidcam_model *m, cc_dnn_dtype dt,
                                  const cc_prepared **out, cc_err *e);

#endif
