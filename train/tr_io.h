/* Model and checkpoint files.
 *
 * A model is a covidcam safetensors file (docs/model-format.md) that
 * covidcam_model_load() accepts. A checkpoint is the same container with
 * format "covidcam-checkpoint": the model tensors and metadata, plus
 * "momentum.<name>" for every trainable tensor, "average.<name>" for every
 * tensor when the run keeps a weight average (--ema), the history
 * ("history.iterations", "history.epochs"), the best epoch's confusion
 * matrix ("best.confusion") and a "state" JSON (configuration and position). */
#ifndef TR_IO_H
#define TR_IO_H

#include "model_meta.h"
#include "safetensors.h"
#include "tr_dataset.h"
#include "tr_history.h"
#include "tr_metrics.h"
#include "tr_net.h"

#define TR_CKPT_FORMAT CC_META_CKPT_FORMAT

/* What a model file says about its input and classes. */
typedef struct tr_model_info {
    int input_size, in_channels;
    int resize; /* cc_resize_mode: metadata `resize`, written when not stretch */
    float mean[3], std[3];
    double bn_eps;
    tr_classes classes; /* owned */
    char *description;  /* owned, may be NULL */
} tr_model_info;

void tr_model_info_free(tr_model_info *mi);

covidcam_status tr_save_model(const char *path, const tr_params *p, const tr_model_info *mi,
                              const char *training_json, cc_err *e);

covidcam_status tr_save_checkpoint(const char *path, const tr_params *p, const tr_model_info *mi,
                                   const char *state_json, const tr_history *h,
                                   const tr_confusion *best, cc_err *e);

/* A parsed file and the buffer it points into. */
typedef struct tr_file {
    uint8_t *buf;
    size_t len;
    cc_safetensors st;
} tr_file;

covidcam_status tr_file_read(const char *path, tr_file *f, cc_err *e);
void tr_file_free(tr_file *f);

/* Architecture and model info from the metadata of a model or checkpoint. */
covidcam_status tr_file_info(const tr_file *f, cc_arch *a, tr_model_info *mi, cc_err *e);

/* Create p for the file's architecture and fill the values (and, for a
 * checkpoint, the momentum buffers). Every tensor must be present with the
 * right shape. */
covidcam_status tr_file_params(const tr_file *f, const cc_arch *a, const tr_model_info *mi,
                               int with_momentum, tr_params *p, cc_err *e);

/* The weight average of a checkpoint made with --ema ("average.<name>" for
 * every tensor) into p->avg (allocated by the caller). A missing tensor or
 * one of another shape is BAD_FORMAT naming it. */
covidcam_status tr_file_average(const tr_file *f, tr_params *p, cc_err *e);

/* Checkpoint extras: the history, the best confusion matrix (k x k, may be
 * absent: c->m stays zero), and the state JSON (NULL if absent). */
/* Overwrite the values of p (already created for the run's architecture)
 * with the same-named tensors of f: every parameter and running statistic,
 * the fc layer too unless skip_fc. *copied counts the tensors copied. Errors
 * name a tensor that is missing or has another shape (BAD_FORMAT). */
covidcam_status tr_file_copy_weights(const tr_file *f, tr_params *p, int skip_fc, int *copied,
                                     cc_err *e);

covidcam_status tr_file_history(const tr_file *f, tr_history *h, cc_err *e);
void tr_file_confusion(const tr_file *f, tr_confusion *c);

#endif
