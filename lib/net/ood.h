/* Out-of-distribution score of a model's pooled features: the squared
 * Mahalanobis distance to the nearest class mean under one shared covariance
 * (Lee et al., NeurIPS 2018), from statistics stored in the model file
 * (docs/model-format.md, "Out-of-distribution statistics"). */
#ifndef COVIDCAM_OOD_H
#define COVIDCAM_OOD_H

#include "error.h"
#include "safetensors.h"

#define CC_OOD_MEANS "ood.class_means"  /* F32/BF16/F16 [classes, features] */
#define CC_OOD_PRECISION "ood.precision" /* [features, features], the inverse covariance */

/* How the statistics are fitted (covidcam-train and tools/ood_fit.py, which
 * reads these two lines): the shared covariance is shrunk by this fraction
 * towards tr(cov) / F times the identity, and the threshold is this
 * percentile (numpy's default, linear interpolation) of the validation scores. */
#define CC_OOD_SHRINK 1e-3
#define CC_OOD_PERCENTILE 99.0

typedef struct cc_ood {
    int classes, features;
    float *means;     /* classes x features, row-major */
    float *precision; /* features x features, symmetric */
    double threshold; /* a score above it is out of distribution */
} cc_ood;

/* 1 if `name` is one of the OOD tensors. */
int cc_ood_is_tensor(const char *name);

/* Check the shapes and dtypes of the two OOD tensors of `st` against the
 * model's classes and features, without reading their data. */
covidcam_status cc_ood_check(const cc_safetensors *st, int classes, int features, cc_err *e);

/* Read the statistics (checked by cc_ood_check) into a new *out that the
 * caller owns (cc_ood_free). Refuses non-finite values, a precision matrix
 * that is not symmetric or has a diagonal entry <= 0, naming the element. */
covidcam_status cc_ood_load(const cc_safetensors *st, int classes, int features, double threshold,
                            cc_ood **out, cc_err *e);

void cc_ood_free(cc_ood *o);

/* min over classes k of (f - mean_k)^T P (f - mean_k), in double; `work` holds
 * o->features doubles. Allocation-free and thread-safe on a shared o. */
double cc_ood_score(const cc_ood *o, const float *f, double *work);

#endif
