/* Command-line options of covidcam-train: one table drives parsing, range
 * checks and --help, so every flag is documented with its default. */
#ifndef TR_OPTIONS_H
#define TR_OPTIONS_H

#include <jansson.h>
#include <stdio.h>

#include "arch.h"
#include "error.h"

typedef enum tr_mode {
    TR_MODE_TRAIN,
    TR_MODE_TEST,
    TR_MODE_BENCH,
    TR_MODE_HELP,
    TR_MODE_VERSION
} tr_mode;

typedef struct tr_opts {
    /* data */
    const char *train_dir, *val_dir, *test_dir, *data_root, *split;
    double split_f[3];
    const char *out_dir, *model_path;
    int subset, strict, workers;
    /* model */
    const char *arch, *block, *layers, *widths;
    int stem_width, input_size, input_channels;
    double bn_eps;
    const char *description;
    /* optimisation */
    int epochs, batch, warmup_epochs;
    double lr, momentum, weight_decay, label_smoothing;
    int decay_all;
    const char *precision;
    const char *select; /* "loss" or "accuracy": which validation figure picks best.safetensors */
    const char *class_weights; /* "none" or "balanced" (inverse class frequency of the training split) */
    double ema;         /* decay of the weight average per iteration; 0: no average */
    int average_from;   /* --average-from: first epoch (1-based) of the uniform average; 0: off */
    double average_lr;  /* --average-lr: constant learning rate of those epochs; 0: the schedule's */
    double mixup;       /* --mixup: alpha of mixup's Beta(alpha, alpha) (tr_mixup.h); 0: off */
    const char *resize; /* "stretch", "center_crop" or "pad" (metadata `resize`) */
    int no_ood;         /* skip the OOD fit after training */
    const char *init_from; /* a covidcam model whose weights start the run, or NULL */
    long seed;
    int threads;
    /* augmentation */
    int no_augment, hflip;
    double aug_scale, aug_translate, aug_rotate, aug_brightness, aug_contrast;
    /* run control */
    int resume, force, benchmark, iterations;
    double log_interval;
    int help;
    int version;
    long stop_after; /* --stop-after: behave as if interrupted once this many iterations ran */
    /* set by parsing */
    tr_mode mode;
    char given[64]; /* given[i]: flag i of the table appeared on the command line */
    /* --train / --val / --test given more than once: the folders joined by
     * TR_SOURCE_SEP (train_dir / val_dir / test_dir then point here) */
    char train_list[8192], val_list[8192], test_list[8192];
} tr_opts;

void tr_opts_defaults(tr_opts *o);

/* Parse argv into o (defaults first). Unknown flags, bad values, values out
 * of range and inconsistent combinations are COVIDCAM_ERR_INVALID_ARGUMENT
 * naming the flag. Sets o->mode. */
covidcam_status tr_opts_parse(tr_opts *o, int argc, char **argv, cc_err *e);

/* 1 if flag `name` (without dashes) was on the command line. */
int tr_opts_given(const tr_opts *o, const char *name);

void tr_opts_help(FILE *f, const char *prog);

/* The flags that define a run (data, model, optimisation, augmentation,
 * seed — not output, threads or logging) as a new JSON object. */
json_t *tr_opts_config(const tr_opts *o);

/* For --resume: take each of those flags from cfg (made by tr_opts_config)
 * unless it was given on the command line. A given flag that differs from the
 * checkpoint is an error, except --epochs, which may extend the run. String
 * values then point into cfg, which must outlive o. */
covidcam_status tr_opts_apply_config(tr_opts *o, json_t *cfg, cc_err *e);

/* Parse "a,b,c" (or "[a,b,c]") positive integers into v; returns the count
 * or -1. */
int tr_parse_int_list(const char *s, int *v, int max);

/* The architecture named by --arch (and --block/--layers/--widths/--stem-width
 * for "resnet"), built by the library's one rule (cc_arch_from_lists). The
 * option check calls it too, so a custom net is parsed in one place. */
covidcam_status tr_arch_from_opts(const tr_opts *o, cc_arch *a, cc_err *e);

#endif
