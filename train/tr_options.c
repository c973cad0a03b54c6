#include "tr_options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_meta.h"
#include "tr_dataset.h"

typedef enum opt_type { OT_STR, OT_INT, OT_LONG, OT_DBL, OT_FLAG } opt_type;

/* lock: 1 = part of the run's configuration (stored in checkpoints),
 * 2 = stored but may be changed on resume. */
typedef struct opt_def {
    const char *name;
    opt_type type;
    size_t off;
    double lo, hi;
    const char *arg, *help;
    int lock;
} opt_def;

#define O(f) offsetof(tr_opts, f)

static const opt_def k_opts[] = {
    {"train", OT_STR, O(train_dir), 0, 0, "DIR",
     "training images, one folder per class (PNG, JPEG, DICOM); repeat to merge several trees by class name", 1},
    {"val", OT_STR, O(val_dir), 0, 0, "DIR",
     "validation images (class folders among the training classes); repeatable", 1},
    {"test", OT_STR, O(test_dir), 0, 0, "DIR",
     "test images: evaluated with the best model after training, or alone with --model; repeatable", 0},
    {"data", OT_STR, O(data_root), 0, 0, "ROOT", "one tree to split per class (instead of --train/--val)", 1},
    {"split", OT_STR, O(split), 0, 0, "T,V,T", "train,val,test fractions of --data", 1},
    {"out", OT_STR, O(out_dir), 0, 0, "DIR",
     "output folder: best.safetensors, checkpoint.safetensors, metrics.csv, report.html", 0},
    {"model", OT_STR, O(model_path), 0, 0, "FILE", "model to evaluate with --test (default OUT/best.safetensors)", 0},
    {"subset", OT_INT, O(subset), 0, 1e9, "N", "use at most N images per class of each split (0 = all)", 1},
    {"strict", OT_FLAG, O(strict), 0, 1, NULL, "stop at an unreadable image instead of skipping it", 0},
    {"workers", OT_INT, O(workers), 1, 64, "N", "image decoding threads", 0},
    {"arch", OT_STR, O(arch), 0, 0, "NAME", "resnet18|resnet34|resnet50|resnet101|resnet152|resnet", 1},
    {"block", OT_STR, O(block), 0, 0, "KIND", "custom resnet: basic|bottleneck", 1},
    {"layers", OT_STR, O(layers), 0, 0, "L,..", "custom resnet: blocks per stage, 1 to 4 stages", 1},
    {"widths", OT_STR, O(widths), 0, 0, "W,..", "custom resnet: width of each stage", 1},
    {"stem-width", OT_INT, O(stem_width), 1, 4096, "N", "custom resnet: conv1 output channels", 1},
    {"input-size", OT_INT, O(input_size), 16, 1024, "N", "network input side in pixels", 1},
    {"resize", OT_STR, O(resize), 0, 0, "MODE", "stretch|center_crop|pad: how a non-square image becomes the square input (docs/preprocessing.md)", 1},
    {"input-channels", OT_INT, O(input_channels), 1, 3, "1|3", "input channels (gray replicated)", 1},
    {"bn-eps", OT_DBL, O(bn_eps), 1e-12, 1e-1, "X", "batch norm epsilon", 1},
    {"description", OT_STR, O(description), 0, 0, "TEXT", "free text stored in the model", 0},
    {"epochs", OT_INT, O(epochs), 1, 100000, "N", "training epochs", 2},
    {"batch-size", OT_INT, O(batch), 1, 4096, "N", "images per iteration (incomplete last batch dropped)", 1},
    {"lr", OT_DBL, O(lr), 1e-9, 10, "X", "base learning rate", 1},
    {"momentum", OT_DBL, O(momentum), 0, 0.999, "X", "SGD momentum", 1},
    {"weight-decay", OT_DBL, O(weight_decay), 0, 0.1, "X", "L2 weight decay (conv and fc weights)", 1},
    {"decay-all", OT_FLAG, O(decay_all), 0, 1, NULL, "also decay BN weights/biases and the fc bias", 1},
    {"warmup-epochs", OT_INT, O(warmup_epochs), 0, 100000, "N", "linear warm-up epochs before the cosine decay", 1},
    {"label-smoothing", OT_DBL, O(label_smoothing), 0, 0.999, "X", "label smoothing of the cross-entropy", 1},
    {"class-weights", OT_STR, O(class_weights), 0, 0, "HOW", "none|balanced: balanced weights each class's cross-entropy by N / (K * n_class) over the training split, so every class weighs the same in the loss (docs/training.md)", 1},
    {"ema", OT_DBL, O(ema), 0, 0.99999, "DECAY", "keep an exponential moving average of the weights and running statistics (decay per iteration; 0 = off); it is validated beside the raw weights every epoch and becomes best.safetensors", 1},
    {"average-from", OT_INT, O(average_from), 0, 100000, "E", "stochastic weight averaging: best.safetensors is the uniform average of the weights at the end of epochs E to the last, its batch-norm statistics re-estimated on the training split; validated beside the raw weights, never selected on validation (0 = off; docs/training.md)", 1},
    {"average-lr", OT_DBL, O(average_lr), 0, 10, "X", "constant learning rate of the averaged epochs (0 = keep the warm-up cosine schedule)", 1},
    {"mixup", OT_DBL, O(mixup), 0, 100, "ALPHA", "mixup: train on blends of pairs of images and of their labels, each pair weighted by lambda ~ Beta(ALPHA, ALPHA) (0 = off; docs/training.md)", 1},
    {"select", OT_STR, O(select), 0, 0, "WHAT", "loss|accuracy: the epoch with the lowest validation loss or the highest validation accuracy becomes best.safetensors (loss: a smooth figure that flatters less)", 1},
    {"precision", OT_STR, O(precision), 0, 0, "P", "fp32|bf16|auto (auto = bf16 where the CPU computes bf16 natively: AVX512-BF16 or AMX; else fp32; a resumed run keeps the checkpoint's unless given)", 2},
    {"seed", OT_LONG, O(seed), 0, 9.2e18, "N", "seed of split, init, order and augmentation", 1},
    {"threads", OT_INT, O(threads), 0, 1024, "N", "compute threads (0 = all cores)", 0},
    {"no-ood", OT_FLAG, O(no_ood), 0, 1, NULL, "do not fit out-of-distribution statistics into best.safetensors at the end (docs/trust.md)", 0},
    {"no-augment", OT_FLAG, O(no_augment), 0, 1, NULL, "disable all augmentation", 1},
    {"aug-scale", OT_DBL, O(aug_scale), 0, 0.5, "X", "random zoom in [1-X, 1+X]", 1},
    {"aug-translate", OT_DBL, O(aug_translate), 0, 0.5, "X", "random shift up to X * size per axis", 1},
    {"aug-rotate", OT_DBL, O(aug_rotate), 0, 180, "DEG", "random rotation in [-DEG, DEG]", 1},
    {"aug-brightness", OT_DBL, O(aug_brightness), 0, 1, "X", "brightness factor in [1-X, 1+X]", 1},
    {"aug-contrast", OT_DBL, O(aug_contrast), 0, 1, "X", "contrast factor in [1-X, 1+X]", 1},
    {"hflip", OT_FLAG, O(hflip), 0, 1, NULL, "random horizontal flips (off: laterality matters)", 1},
    {"init-from", OT_STR, O(init_from), 0, 0, "MODEL", "start from this covidcam model's weights (fine-tuning; same architecture and input channels; its mean/std are kept; the fc layer is re-initialised when the classes differ)", 1},
    {"resume", OT_FLAG, O(resume), 0, 1, NULL, "continue from OUT/checkpoint.safetensors", 0},
    {"stop-after", OT_LONG, O(stop_after), 1, 9e18, "N", "stop with a checkpoint, as if interrupted, once the run has made N iterations in all (time-boxed jobs: --resume continues)", 0},
    {"force", OT_FLAG, O(force), 0, 1, NULL, "train anew into an OUT that holds an earlier run, replacing it", 0},
    {"benchmark", OT_FLAG, O(benchmark), 0, 1, NULL, "time training iterations on synthetic data", 0},
    {"iterations", OT_INT, O(iterations), 1, 100000, "N", "timed iterations of --benchmark", 0},
    {"log-interval", OT_DBL, O(log_interval), 0.1, 1e6, "SEC", "seconds between progress lines when stderr is not a terminal", 0},
    {"help", OT_FLAG, O(help), 0, 1, NULL, "show this help", 0},
    {"version", OT_FLAG, O(version), 0, 1, NULL, "show the trainer's and the library's version", 0},
};

#define N_OPTS ((int)(sizeof k_opts / sizeof k_opts[0]))

void tr_opts_defaults(tr_opts *o)
{
    memset(o, 0, sizeof *o);
    o->split = "0.7,0.2,0.1";
    o->workers = 2;
    o->arch = "resnet18";
    o->input_size = 224;
    o->input_channels = 3;
    o->bn_eps = 1e-5;
    o->epochs = 50;
    o->batch = 50;
    o->lr = 0.01;
    o->momentum = 0.9;
    o->weight_decay = 1e-4;
    o->warmup_epochs = 5;
    o->precision = "auto";
    o->select = "loss";
    o->class_weights = "none";
    o->resize = "stretch";
    o->aug_scale = 0.10;
    o->aug_translate = 0.05;
    o->aug_rotate = 10;
    o->aug_brightness = 0.10;
    o->aug_contrast = 0.10;
    o->iterations = 10;
    o->log_interval = 30;
}

static void default_text(const tr_opts *d, const opt_def *od, char *buf, size_t n)
{
    const char *p = (const char *)d + od->off;
    buf[0] = '\0';
    switch (od->type) {
    case OT_STR:
        if (*(const char *const *)p)
            snprintf(buf, n, "%s", *(const char *const *)p);
        break;
    case OT_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case OT_LONG: snprintf(buf, n, "%ld", *(const long *)p); break;
    case OT_DBL: snprintf(buf, n, "%g", *(const double *)p); break;
    case OT_FLAG: break;
    }
}

void tr_opts_help(FILE *f, const char *prog)
{
    tr_opts d;
    tr_opts_defaults(&d);
    fprintf(f,
            "Usage: %s --train DIR --val DIR --out DIR [options]\n"
            "       %s --data ROOT [--split 0.7,0.2,0.1] --out DIR [options]\n"
            "       %s --resume --out DIR\n"
            "       %s --test DIR --model FILE\n"
            "       %s --benchmark [--arch resnet50] [--precision bf16]\n\n"
            "Train a ResNet chest X-ray classifier on oneDNN and save it as a covidcam model.\n\n"
            "Options (default in brackets):\n",
            prog, prog, prog, prog, prog);
    for (int i = 0; i < N_OPTS; i++) {
        const opt_def *od = &k_opts[i];
        char left[64], def[64];
        snprintf(left, sizeof left, "--%s%s%s", od->name, od->arg ? " " : "", od->arg ? od->arg : "");
        default_text(&d, od, def, sizeof def);
        /* No meaningful default: the model path derives from --out, a custom
         * stem width must be given. */
        if (strcmp(od->name, "model") == 0 || strcmp(od->name, "stem-width") == 0)
            def[0] = '\0';
        fprintf(f, "  %-24s %s%s%s%s\n", left, od->help, def[0] ? " [" : "", def,
                def[0] ? "]" : "");
    }
    fprintf(f, "\nCtrl-C saves a checkpoint; --resume continues it. Under mpirun -np N (a build "
               "with MPI) N processes train one model, each an equal share of every batch. See "
               "docs/training.md.\n");
}

static const opt_def *find_opt(const char *name, size_t len)
{
    for (int i = 0; i < N_OPTS; i++)
        if (strlen(k_opts[i].name) == len && strncmp(k_opts[i].name, name, len) == 0)
            return &k_opts[i];
    return NULL;
}

int tr_opts_given(const tr_opts *o, const char *name)
{
    const opt_def *od = find_opt(name, strlen(name));
    return od ? o->given[od - k_opts] : 0;
}

static covidcam_status set_value(tr_opts *o, const opt_def *od, const char *v, cc_err *e)
{
    char *p = (char *)o + od->off, *end = NULL;
    errno = 0;
    double x = 0;
    switch (od->type) {
    case OT_STR:
        if (!*v)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--%s needs a value", od->name);
        *(const char **)p = v;
        return COVIDCAM_OK;
    case OT_FLAG: *(int *)p = 1; return COVIDCAM_OK;
    case OT_INT:
    case OT_LONG: x = (double)strtoll(v, &end, 10); break;
    case OT_DBL: x = strtod(v, &end); break;
    }
    if (errno || end == v || *end || x != x)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--%s: '%s' is not a number", od->name, v);
    if (x < od->lo || x > od->hi)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--%s %s is out of range [%g, %g]",
                       od->name, v, od->lo, od->hi);
    if (od->type == OT_INT)
        *(int *)p = (int)x;
    else if (od->type == OT_LONG)
        *(long *)p = strtol(v, NULL, 10);
    else
        *(double *)p = x;
    return COVIDCAM_OK;
}

int tr_parse_int_list(const char *s, int *v, int max)
{
    int n = 0;
    if (*s == '[')
        s++;
    while (*s) {
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (errno || end == s || x < 1 || x > 4096 || n == max)
            return -1;
        v[n++] = (int)x;
        s = end;
        if (*s == ',')
            s++;
        else if (*s == ']' && s[1] == '\0')
            break;
        else if (*s)
            return -1;
    }
    return n;
}

static covidcam_status parse_split(tr_opts *o, cc_err *e)
{
    char *end;
    const char *s = o->split;
    for (int i = 0; i < 3; i++) {
        errno = 0;
        o->split_f[i] = strtod(s, &end);
        if (errno || end == s || o->split_f[i] < 0 || (i < 2 && *end != ',') || (i == 2 && *end))
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                           "--split '%s': expected three fractions like 0.7,0.2,0.1", o->split);
        s = end + 1;
    }
    double sum = o->split_f[0] + o->split_f[1] + o->split_f[2];
    if (sum < 0.999999 || sum > 1.000001 || o->split_f[0] <= 0 || o->split_f[1] <= 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--split '%s': fractions must sum to 1 with train and val above 0", o->split);
    return COVIDCAM_OK;
}

/* --layers and --widths ("2,2,2,2" or "[2,2,2,2]") straight into the arch. */
covidcam_status tr_arch_from_opts(const tr_opts *o, cc_arch *a, cc_err *e)
{
    if (strcmp(o->arch, "resnet") != 0)
        return cc_arch_from_name(o->arch, a, e);
    if (!o->block || !o->layers || !o->widths ||
        (strcmp(o->block, "basic") != 0 && strcmp(o->block, "bottleneck") != 0))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--arch resnet needs --block basic|bottleneck, --layers and --widths");
    int layers[CC_MAX_STAGES], widths[CC_MAX_STAGES];
    int nl = tr_parse_int_list(o->layers, layers, CC_MAX_STAGES);
    int nw = tr_parse_int_list(o->widths, widths, CC_MAX_STAGES);
    if (nl < 1 || nw != nl)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--layers and --widths need 1 to %d positive numbers each, as many "
                       "widths as stages",
                       CC_MAX_STAGES);
    covidcam_status st = cc_arch_from_lists(
        strcmp(o->block, "bottleneck") == 0 ? CC_BLOCK_BOTTLENECK : CC_BLOCK_BASIC, layers,
        widths, nl, o->stem_width, a, e);
    if (st)
        cc_err_prefix(e, "--arch resnet");
    return st;
}

static covidcam_status check_arch(const tr_opts *o, cc_err *e)
{
    int custom = strcmp(o->arch, "resnet") == 0;
    if (!custom && (o->block || o->layers || o->widths || o->stem_width))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--block/--layers/--widths/--stem-width need --arch resnet");
    if (!custom)
        return COVIDCAM_OK;
    if (!o->block || !o->layers || !o->widths || !o->stem_width)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--arch resnet needs --block, --layers, --widths and --stem-width");
    cc_arch a;
    return tr_arch_from_opts(o, &a, e);
}

/* Which job the flags ask for, and whether they fit together. */
static covidcam_status pick_mode(tr_opts *o, cc_err *e)
{
    int explicit = o->train_dir || o->val_dir;
    if (o->version) {
        o->mode = TR_MODE_VERSION;
        return COVIDCAM_OK;
    }
    if (o->help) {
        o->mode = TR_MODE_HELP;
        return COVIDCAM_OK;
    }
    if (strcmp(o->precision, "fp32") && strcmp(o->precision, "bf16") && strcmp(o->precision, "auto"))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--precision must be fp32, bf16 or auto");
    if (cc_meta_resize_mode(o->resize) < 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--resize must be stretch, center_crop or pad, not '%s'", o->resize);
    if (strcmp(o->select, "loss") && strcmp(o->select, "accuracy"))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--select must be loss or accuracy, not '%s'",
                       o->select);
    if (strcmp(o->class_weights, "none") && strcmp(o->class_weights, "balanced"))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--class-weights must be none or balanced, not '%s'", o->class_weights);
    if (o->average_from > 0 && o->ema > 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--average-from and --ema both keep a weight average; choose one");
    if (o->mixup > 0 && strcmp(o->class_weights, "none"))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--mixup does not combine with --class-weights %s", o->class_weights);
    if (o->average_lr > 0 && o->average_from == 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--average-lr needs --average-from");
    if (!o->resume && o->average_from > o->epochs)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--average-from %d is after the last epoch (--epochs %d)", o->average_from,
                       o->epochs);
    /* A warm-up as long as the run would leave no decay: clamped, with a note
     * (a resumed run keeps its checkpoint's warm-up and checks it there). */
    if (!o->resume && o->warmup_epochs >= o->epochs && o->warmup_epochs > 0) {
        fprintf(stderr,
                "covidcam-train: note: --warmup-epochs %d is not below --epochs %d; using %d\n",
                o->warmup_epochs, o->epochs, o->epochs - 1);
        o->warmup_epochs = o->epochs - 1;
    }
    if (o->input_channels == 2)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--input-channels must be 1 or 3");
    covidcam_status st = check_arch(o, e);
    if (st)
        return st;
    if (o->benchmark) {
        o->mode = TR_MODE_BENCH;
        return COVIDCAM_OK;
    }
    if (o->test_dir && !explicit && !o->data_root && !o->resume) {
        if (!o->model_path && !o->out_dir)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--test needs --model FILE (or --out DIR)");
        o->mode = TR_MODE_TEST;
        return COVIDCAM_OK;
    }
    o->mode = TR_MODE_TRAIN;
    if (!o->out_dir)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "training needs --out DIR");
    if (o->data_root && explicit)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "use either --data or --train/--val, not both");
    if (o->data_root && o->test_dir)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--data already provides the test split; drop --test");
    if (!o->resume && !o->data_root && !(o->train_dir && o->val_dir))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "training needs --train DIR and --val DIR, or --data ROOT");
    if (o->data_root || tr_opts_given(o, "split"))
        return parse_split(o, e);
    return COVIDCAM_OK;
}

/* --train, --val and --test may be repeated: the folders are joined with
 * TR_SOURCE_SEP in the option's own buffer. */
static covidcam_status add_source(tr_opts *o, const opt_def *od, const char *v, cc_err *e)
{
    if (od->off != O(train_dir) && od->off != O(val_dir) && od->off != O(test_dir))
        return set_value(o, od, v, e);
    if (strchr(v, TR_SOURCE_SEP))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--%s: folder names containing a newline are not supported", od->name);
    const char **cur = (const char **)((char *)o + od->off);
    char *buf = od->off == O(train_dir) ? o->train_list
                : od->off == O(val_dir) ? o->val_list : o->test_list;
    size_t size = sizeof o->train_list;
    if (!o->given[od - k_opts])
        return set_value(o, od, v, e);
    if (*cur != buf)
        snprintf(buf, size, "%s", *cur);
    size_t used = strlen(buf);
    if (!*v)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--%s needs a value", od->name);
    if (used + 1 + strlen(v) >= size)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--%s: too many folders (%zu bytes of names at most)", od->name, size - 1);
    snprintf(buf + used, size - used, "%c%s", TR_SOURCE_SEP, v);
    *cur = buf;
    return COVIDCAM_OK;
}

covidcam_status tr_opts_parse(tr_opts *o, int argc, char **argv, cc_err *e)
{
    tr_opts_defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt_def *od = find_opt(name, len);
        if (!od)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", a);
        const char *v = eq ? eq + 1 : NULL;
        if (od->type == OT_FLAG && v)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--%s takes no value", od->name);
        if (od->type != OT_FLAG && !v) {
            if (i + 1 >= argc)
                return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "--%s needs a value", od->name);
            v = argv[++i];
        }
        covidcam_status st = add_source(o, od, v ? v : "", e);
        if (st)
            return st;
        o->given[od - k_opts] = 1;
    }
    return pick_mode(o, e);
}

json_t *tr_opts_config(const tr_opts *o)
{
    json_t *cfg = json_object();
    for (int i = 0; cfg && i < N_OPTS; i++) {
        const opt_def *od = &k_opts[i];
        const char *p = (const char *)o + od->off;
        json_t *v = NULL;
        if (!od->lock)
            continue;
        switch (od->type) {
        case OT_STR: v = *(const char *const *)p ? json_string(*(const char *const *)p) : json_null(); break;
        case OT_INT:
        case OT_FLAG: v = json_integer(*(const int *)p); break;
        case OT_LONG: v = json_integer(*(const long *)p); break;
        case OT_DBL: v = json_real(*(const double *)p); break;
        }
        json_object_set_new(cfg, od->name, v);
    }
    return cfg;
}

/* Whether the current value of od in o equals the JSON value v. */
static int same_value(const tr_opts *o, const opt_def *od, json_t *v)
{
    const char *p = (const char *)o + od->off;
    switch (od->type) {
    case OT_STR: {
        const char *a = *(const char *const *)p, *b = json_string_value(v);
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
    }
    case OT_INT:
    case OT_FLAG: return json_is_integer(v) && json_integer_value(v) == *(const int *)p;
    case OT_LONG: return json_is_integer(v) && json_integer_value(v) == *(const long *)p;
    case OT_DBL: return json_is_number(v) && json_number_value(v) == *(const double *)p;
    }
    return 0;
}

static void take_value(tr_opts *o, const opt_def *od, json_t *v)
{
    char *p = (char *)o + od->off;
    switch (od->type) {
    case OT_STR: *(const char **)p = json_string_value(v); break;
    case OT_INT:
    case OT_FLAG: *(int *)p = (int)json_integer_value(v); break;
    case OT_LONG: *(long *)p = (long)json_integer_value(v); break;
    case OT_DBL: *(double *)p = json_number_value(v); break;
    }
}

covidcam_status tr_opts_apply_config(tr_opts *o, json_t *cfg, cc_err *e)
{
    if (!json_is_object(cfg))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "checkpoint state has no configuration");
    for (int i = 0; i < N_OPTS; i++) {
        const opt_def *od = &k_opts[i];
        json_t *v = json_object_get(cfg, od->name);
        if (!od->lock || !v)
            continue;
        if (!o->given[i]) {
            take_value(o, od, v);
            continue;
        }
        if (od->lock == 1 && !same_value(o, od, v))
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                           "--%s differs from the checkpoint's value; a resumed run keeps its "
                           "configuration (only --epochs may change)",
                           od->name);
    }
    /* Checkpoints written before the precision was stored trained in fp32
     * (auto meant fp32 then). */
    if (!json_object_get(cfg, "precision") && !tr_opts_given(o, "precision"))
        o->precision = "fp32";
    /* Checkpoints written before --select existed picked by accuracy. */
    if (!json_object_get(cfg, "select") && !tr_opts_given(o, "select"))
        o->select = "accuracy";
    if (o->warmup_epochs >= o->epochs && o->warmup_epochs > 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "--epochs %d must exceed the checkpoint's warm-up of %d epochs", o->epochs,
                       o->warmup_epochs);
    return o->data_root ? parse_split(o, e) : COVIDCAM_OK;
}

_Static_assert(N_OPTS <= (int)sizeof(((tr_opts *)0)->given), "tr_opts.given is too small");
