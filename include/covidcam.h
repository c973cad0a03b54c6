/*
 * covidcam.h - classify chest X-rays and explain the decision with Grad-CAM.
 *
 * libcovidcam loads a ResNet stored as a covidcam safetensors file (see
 * docs/model-format.md), classifies one radiograph at a time on oneDNN and
 * computes Grad-CAM heatmaps for any residual block.
 *
 * Handles
 *   covidcam_model    immutable weights and metadata. After covidcam_model_load*()
 *                     returns, a model may be shared by any number of threads.
 *   covidcam_session  per-thread state: oneDNN primitives, activation buffers,
 *                     scratchpad. A session belongs to one model and must be used
 *                     by one thread at a time (different sessions of the same model
 *                     may run concurrently). Free every session before its model.
 *                     A call on a session that is already in a call on another
 *                     thread returns COVIDCAM_ERR_INVALID_ARGUMENT at once, without
 *                     touching the session or its message (the running call owns
 *                     them); that detection is a guard, not a lock: do not rely
 *                     on it to share a session.
 *   covidcam_heatmap  one Grad-CAM result; owns its arrays, independent of the
 *                     session that made it (may outlive it and move between threads).
 *
 * Conventions
 *   - Every fallible function returns a covidcam_status; COVIDCAM_OK is 0.
 *   - On failure, out-parameters are left untouched.
 *   - Functions that take a session record a message naming what was wrong,
 *     readable with covidcam_session_last_error(). Functions without a session
 *     accept an optional caller buffer `errbuf` (may be NULL) of `errbuf_size`
 *     bytes; COVIDCAM_ERRBUF_SIZE bytes always suffice.
 *   - The library keeps no global mutable state.
 *   - Free functions accept NULL.
 *   - Strings returned as `const char *` are owned by the handle they came from
 *     and live as long as it, unless stated otherwise.
 */
#ifndef COVIDCAM_H
#define COVIDCAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define COVIDCAM_API
#elif defined(__GNUC__) && __GNUC__ >= 4
#define COVIDCAM_API __attribute__((visibility("default")))
#else
#define COVIDCAM_API
#endif

/* The version this header belongs to. Set in meson.build's project() alone;
 * the library does not build if these disagree with it. */
#define COVIDCAM_VERSION_MAJOR 0
#define COVIDCAM_VERSION_MINOR 5
#define COVIDCAM_VERSION_PATCH 0

/* Enough bytes for any message the library writes to an errbuf. */
#define COVIDCAM_ERRBUF_SIZE 512

/* Limits enforced on untrusted input (docs/security.md). */
#define COVIDCAM_MAX_IMAGE_DIM 16384u            /* width or height of an image */
#define COVIDCAM_MAX_IMAGE_PIXELS (64u << 20)    /* width * height of an image */
#define COVIDCAM_MAX_CLASSES 1000u               /* rows of fc.weight */
#define COVIDCAM_MAX_HEADER_BYTES (16u << 20)    /* safetensors JSON header */
#define COVIDCAM_MAX_TENSORS 4096u               /* tensors in a model file */
#define COVIDCAM_MAX_INPUT_SIZE 1024u            /* model input_size */
#define COVIDCAM_MAX_MODEL_BYTES (4ull << 30)    /* model file size */
#define COVIDCAM_MAX_SESSION_BYTES (2ull << 30)  /* activations one session of a model needs */

typedef enum covidcam_status {
    COVIDCAM_OK = 0,
    COVIDCAM_ERR_INVALID_ARGUMENT = 1, /* NULL handle, bad size, unknown name... */
    COVIDCAM_ERR_IO = 2,               /* a file could not be opened, read or written */
    COVIDCAM_ERR_BAD_FORMAT = 3,       /* malformed PNG or model file */
    COVIDCAM_ERR_UNSUPPORTED = 4,      /* well-formed but not supported (dtype, precision...) */
    COVIDCAM_ERR_OUT_OF_MEMORY = 5,
    COVIDCAM_ERR_BACKEND = 6,          /* oneDNN refused or failed */
    COVIDCAM_ERR_LIMIT = 7             /* input exceeds a documented limit */
} covidcam_status;

typedef struct covidcam_model covidcam_model;
typedef struct covidcam_session covidcam_session;
typedef struct covidcam_heatmap covidcam_heatmap;

/* ---------------------------------------------------------------- library */

/* The library version as "MAJOR.MINOR.PATCH". Static string; never NULL. */
COVIDCAM_API const char *covidcam_version(void);

/* A short English description of `status`. Static string; never NULL
 * (unknown values give "unknown status"). */
COVIDCAM_API const char *covidcam_status_string(covidcam_status status);

/* ---------------------------------------------------------------- model */

/* Load a covidcam safetensors model from `path`. Validates the header, the
 * metadata and every tensor (shape, dtype, finite values), folds batch norm into
 * the convolutions and prepares the weights for oneDNN.
 * On success *out receives a new model the caller frees with covidcam_model_free().
 * Errors: INVALID_ARGUMENT (NULL path/out), IO, BAD_FORMAT (names the offending
 * key or tensor in errbuf), UNSUPPORTED (dtype, arch), LIMIT, OUT_OF_MEMORY, BACKEND.
 * Thread-safe: may be called from any thread. */
COVIDCAM_API covidcam_status covidcam_model_load(const char *path, covidcam_model **out,
                                                 char *errbuf, size_t errbuf_size);

/* Same as covidcam_model_load(), from `len` bytes at `buf`. The buffer is only
 * read during the call; the model keeps no pointer into it. */
COVIDCAM_API covidcam_status covidcam_model_load_from_memory(const void *buf, size_t len,
                                                             covidcam_model **out,
                                                             char *errbuf, size_t errbuf_size);

/* Free a model. NULL is a no-op. All its sessions must have been freed. */
COVIDCAM_API void covidcam_model_free(covidcam_model *model);

/* Number of classes (rows of fc.weight); 0 if model is NULL. */
COVIDCAM_API int covidcam_model_num_classes(const covidcam_model *model);

/* Name of class `index` (0-based, in logit order); NULL if out of range. */
COVIDCAM_API const char *covidcam_model_class_name(const covidcam_model *model, int index);

/* Index of the class called `name`, or -1 if there is none. */
COVIDCAM_API int covidcam_model_class_index(const covidcam_model *model, const char *name);

/* Side of the square network input in pixels (metadata input_size); 0 if NULL. */
COVIDCAM_API int covidcam_model_input_size(const covidcam_model *model);

/* Softmax temperature T of the model's calibration (metadata `temperature`,
 * 1 when the file has none): every probability the library reports is
 * softmax(logits / T); logits are always raw. 0 if model is NULL. */
COVIDCAM_API float covidcam_model_temperature(const covidcam_model *model);

/* Number of input channels (1 or 3); 0 if NULL. */
COVIDCAM_API int covidcam_model_input_channels(const covidcam_model *model);

/* Architecture: the metadata `arch` ("resnet50", or "resnet" for a custom one). */
COVIDCAM_API const char *covidcam_model_arch(const covidcam_model *model);

/* The raw string value of metadata key `key` (e.g. "description", "training"),
 * or NULL if absent. */
COVIDCAM_API const char *covidcam_model_metadata(const covidcam_model *model, const char *key);

/* Number of Grad-CAM target layers ("layer1.0" ... "layer4.N", then "layer1" ...
 * "layer4" as aliases of each stage's last block); 0 if NULL. */
COVIDCAM_API int covidcam_model_num_layers(const covidcam_model *model);

/* Name of target layer `index`, or NULL if out of range. */
COVIDCAM_API const char *covidcam_model_layer_name(const covidcam_model *model, int index);

/* ---------------------------------------------------------------- session */

/* The arithmetic a session computes in (docs/precision.md has the measured
 * accuracy and speed of each):
 *   FP32  fp32 everywhere.
 *   BF16  convolutions, their activations and weights in bfloat16 (8-bit
 *         mantissa, fp32 accumulation inside each layer); the input
 *         conversion, pooling, fc, softmax and the OOD score in fp32. Needs a
 *         CPU that computes bf16 natively (AVX512-BF16 or AMX); elsewhere
 *         session creation fails with UNSUPPORTED naming the CPU's ISA.
 *   INT8  (since 0.5) post-training static quantization: s8 weights per
 *         output channel, u8 activations (s8 for the input and the
 *         downsample outputs) with the per-tensor scales the model file
 *         carries (metadata int8_scales, written by covidcam-quantize), s32
 *         bias, the residual add fused; pooling, fc, softmax and the OOD
 *         score in fp32. Runs on every CPU (VNNI/AMX kernels where there are,
 *         AVX2 elsewhere). A file without scales: session creation fails
 *         with UNSUPPORTED saying how to make one. The first INT8 session of
 *         a model quantizes its weights once, for every later one.
 *   AUTO  (since 0.5) the library picks, by a fixed rule on the file and the
 *         CPU (no measurement at run time): INT8 when the file carries int8
 *         calibration scales, else BF16 where the CPU computes bf16
 *         natively, else FP32. BF16 and INT8 work since 0.5 (0.4 refused
 *         them). covidcam_session_precision() tells what was picked.
 * Grad-CAM runs in the session's precision for FP32 and BF16 (in BF16 the
 * backward pass through the blocks after the target layer is bf16 too). An
 * INT8 session classifies in int8 and computes the map, for the class the
 * int8 pass picked, on a bf16 copy of the network (fp32 where the CPU has no
 * native bf16) it makes on its first Grad-CAM call (see docs/precision.md). */
typedef enum covidcam_precision {
    COVIDCAM_PRECISION_FP32 = 0,
    COVIDCAM_PRECISION_BF16 = 1,
    COVIDCAM_PRECISION_INT8 = 2,
    COVIDCAM_PRECISION_AUTO = 3
} covidcam_precision;

/* "fp32", "bf16", "int8" or "auto"; NULL for a value outside the enum.
 * Static strings; any thread. Since 0.5. */
COVIDCAM_API const char *covidcam_precision_name(covidcam_precision precision);

/* The precision named `name` ("fp32", "bf16", "int8", "auto"; exact, lower
 * case) into *out. INVALID_ARGUMENT for NULL or another name (*out
 * untouched). Any thread. Since 0.5. */
COVIDCAM_API covidcam_status covidcam_precision_parse(const char *name, covidcam_precision *out);

/* Option structs (this one and covidcam_gradcam_options) grow by fields
 * appended at the end, so programs built against older or newer headers keep
 * working (abi/README.md):
 *   - struct_size is the size of the caller's struct. covidcam_*_options_init()
 *     (an inline function of this header) sets it to the sizeof this header
 *     gives, zeroes the whole struct and fills in the defaults.
 *   - The library reads only the fields inside struct_size; fields it has but
 *     the caller's older struct lacks take their defaults.
 *   - Bytes past the library's own struct (a newer program's fields) must be
 *     zero, the default of every field added later; otherwise the call fails
 *     with UNSUPPORTED naming the byte. A struct_size smaller than the
 *     first release's struct, or above 1024, is INVALID_ARGUMENT.
 *   - Out-structs (filled by the library) follow the same rule: the library
 *     writes only fields inside the caller's struct_size. */
typedef struct covidcam_session_options {
    size_t struct_size;           /* sizeof the caller's struct; set by _init */
    int num_threads;              /* 0 = all cores (default) */
    covidcam_precision precision; /* default FP32 */
    int max_batch;                /* since 0.5: the most images one
                                     covidcam_classify_*_batch call takes, 1 to
                                     COVIDCAM_MAX_BATCH; 0 (default) means 1.
                                     Above 1 the session also builds a network
                                     for that many images at creation (about
                                     max_batch times one image's activations) */
    int reserved0;                /* 0.5's tail padding: never a field
                                     (abi/README.md); 0 */
} covidcam_session_options;

/* The largest covidcam_session_options.max_batch. Since 0.5. */
#define COVIDCAM_MAX_BATCH 256

/* The exported entry point, kept for programs built against 0.1 headers: it
 * cannot know the caller's struct size, so it fills exactly the 0.1 struct
 * (0.1's sizeof bytes) and sets struct_size to that size. New code calls the
 * inline below; the macro makes covidcam_session_options_init(&o) do so.
 * NULL is a no-op. */
COVIDCAM_API void covidcam_session_options_init(covidcam_session_options *options);

/* Fill `options` with the defaults, struct_size = sizeof(*options) as this
 * header defines it. NULL is a no-op. */
static inline void covidcam_session_options_init_inline(covidcam_session_options *options)
{
    unsigned char *p = (unsigned char *)options;
    size_t i;
    if (!options)
        return;
    for (i = 0; i < sizeof *options; i++)
        p[i] = 0;
    options->struct_size = sizeof *options;
    options->num_threads = 0;
    options->precision = COVIDCAM_PRECISION_FP32;
    options->max_batch = 0;
}
#define covidcam_session_options_init(options) covidcam_session_options_init_inline(options)

/* Create a session for `model`. `options` may be NULL for the defaults.
 * The session builds its oneDNN primitives and buffers now, so the first
 * classification is not slower than the rest. The model must outlive it.
 * Errors: INVALID_ARGUMENT, UNSUPPORTED (precision), LIMIT (max_batch times
 * one image's activations above COVIDCAM_MAX_SESSION_BYTES), OUT_OF_MEMORY,
 * BACKEND; the message goes to errbuf (may be NULL). */
COVIDCAM_API covidcam_status covidcam_session_create(const covidcam_model *model,
                                                     const covidcam_session_options *options,
                                                     covidcam_session **out,
                                                     char *errbuf, size_t errbuf_size);

/* Free a session. NULL is a no-op. */
COVIDCAM_API void covidcam_session_free(covidcam_session *session);

/* The message of the last failed call on `session` ("" if none yet). Owned by
 * the session; valid until its next call. "invalid session" if NULL. */
COVIDCAM_API const char *covidcam_session_last_error(const covidcam_session *session);

/* The model the session was made for. */
COVIDCAM_API const covidcam_model *covidcam_session_model(const covidcam_session *session);

/* The precision the session computes in: the one asked for, or what AUTO
 * resolved to (never AUTO itself). COVIDCAM_PRECISION_AUTO for NULL, as "no
 * answer". Any thread: it never changes after creation. Since 0.5. */
COVIDCAM_API covidcam_precision covidcam_session_precision(const covidcam_session *session);

/* ---------------------------------------------------------------- classify */

/* Every classify function runs the network on one image and writes, for every
 * class i in [0, num_classes):
 *   probabilities[i]  softmax of the logits (may be NULL if not wanted)
 *   logits[i]         raw fc outputs (may be NULL if not wanted)
 * `capacity` is the length of each non-NULL array and must be >= the model's
 * number of classes. *top_class (may be NULL) receives the argmax.
 * Errors: INVALID_ARGUMENT (NULL session, capacity too small, bad dims, a
 * non-finite tensor element, the session busy in another thread), IO,
 * BAD_FORMAT (not an image / corrupt image; the model's mean/std turn the
 * image into non-finite network input; a logit overflows float, so no
 * probability is meaningful), UNSUPPORTED (an image format or variant this
 * build cannot decode), LIMIT (image too large), BACKEND.
 * Call from the thread that owns the session. */

/* Classify an image file: PNG, JPEG or DICOM, recognised from its first bytes
 * (see "image formats" below); converted to gray. */
COVIDCAM_API covidcam_status covidcam_classify_file(covidcam_session *session, const char *path,
                                                    float *probabilities, float *logits,
                                                    size_t capacity, int *top_class);

/* Classify a PNG held in memory (`len` bytes at `png`). */
COVIDCAM_API covidcam_status covidcam_classify_png(covidcam_session *session, const void *png,
                                                   size_t len, float *probabilities,
                                                   float *logits, size_t capacity,
                                                   int *top_class);

/* Classify 8-bit gray pixels: `height` rows of `width` bytes, rows `stride`
 * bytes apart (stride >= width). Resized and normalized as a PNG would be. */
COVIDCAM_API covidcam_status covidcam_classify_pixels(covidcam_session *session,
                                                      const uint8_t *pixels, int width,
                                                      int height, size_t stride,
                                                      float *probabilities, float *logits,
                                                      size_t capacity, int *top_class);

/* Classify an already-normalized float tensor, planar C x H x W (channel-major),
 * with C == input channels and H == W == input size. No preprocessing is done. */
COVIDCAM_API covidcam_status covidcam_classify_tensor(covidcam_session *session,
                                                      const float *tensor, int channels,
                                                      int height, int width,
                                                      float *probabilities, float *logits,
                                                      size_t capacity, int *top_class);

/* ------------------------------------------------------------ batches (since 0.5)
 *
 * Classify `count` images in one pass of the network, 1 <= count <= the
 * session's max_batch (covidcam_session_options; 1 if it was 0). Each image is
 * prepared exactly as the one-image function of the same kind prepares it, and
 * its results are those of that function up to the rounding of a different
 * summation order (oneDNN's kernels for a batch may differ from those for one
 * image): within 1e-5 of the logits' scale in fp32. Results are row by row:
 * probabilities and logits (each may be NULL) hold `count` rows of `capacity`
 * floats, row i at [i * capacity]; top_classes (may be NULL) gets count ints.
 * A call of fewer images than max_batch costs as much as a full one (the
 * network is built for max_batch): pick max_batch as the batch you send.
 * covidcam_session_batch_assessment() gives each image's assessment; after a
 * batch call covidcam_session_assessment(), _features(), _input() and
 * _image_info() have no image (INVALID_ARGUMENT). Errors as the one-image
 * functions, and INVALID_ARGUMENT for count out of range; the message names
 * the image (its index). Call from the thread that owns the session. */

/* `count` tensors, each C x H x W as covidcam_classify_tensor takes it, one
 * after the other in `tensors` (count * C * H * W floats). */
COVIDCAM_API covidcam_status covidcam_classify_tensor_batch(covidcam_session *session,
                                                            const float *tensors, int count,
                                                            int channels, int height, int width,
                                                            float *probabilities, float *logits,
                                                            size_t capacity, int *top_classes);

/* `count` gray images as covidcam_classify_pixels takes them: image i is
 * heights[i] rows of widths[i] bytes at pixels[i], rows strides[i] apart. */
COVIDCAM_API covidcam_status covidcam_classify_pixels_batch(
    covidcam_session *session, const uint8_t *const *pixels, const int *widths,
    const int *heights, const size_t *strides, int count, float *probabilities, float *logits,
    size_t capacity, int *top_classes);

/* `count` image files (PNG, JPEG or DICOM) as covidcam_classify_file reads
 * them. A file that cannot be read or decoded does not stop the others:
 * statuses (may be NULL) gets each file's status, a failed file's rows are
 * NaN and its top class -1, covidcam_session_batch_error() its message, and
 * the call returns the first failure's status (COVIDCAM_OK when every file
 * worked), with the message naming that image. A call that fails as a whole
 * (bad arguments, a backend failure) sets every status to its own. */
COVIDCAM_API covidcam_status covidcam_classify_files(covidcam_session *session,
                                                     const char *const *paths, int count,
                                                     float *probabilities, float *logits,
                                                     size_t capacity, int *top_classes,
                                                     covidcam_status *statuses);

/* The message of image `index` of the session's last batch call, as the
 * one-image call would have given it: why it failed, "" when it worked (or
 * the index is outside that call, or the call failed as a whole:
 * covidcam_session_last_error). Owned by the session; valid until its next
 * call. "invalid session" if NULL. Since 0.5. */
COVIDCAM_API const char *covidcam_session_batch_error(const covidcam_session *session, int index);

/* The most images a batch call of this session takes (max_batch, at least
 * 1); 0 for NULL. Any thread. Since 0.5. */
COVIDCAM_API int covidcam_session_max_batch(const covidcam_session *session);

/* Preprocess gray pixels exactly as the classify functions do (docs/preprocessing.md):
 * bilinear resize to input_size, then (x - mean[c]) / std[c] for each channel.
 * Writes channels * input_size * input_size floats to `tensor` (capacity
 * `tensor_len` floats). Thread-safe: needs only the model.
 * Errors: INVALID_ARGUMENT (NULL, bad geometry, tensor_len too small), LIMIT,
 * OUT_OF_MEMORY, BAD_FORMAT (the model's mean/std give a non-finite value; the
 * tensor is written all the same, for inspection). */
COVIDCAM_API covidcam_status covidcam_model_preprocess(const covidcam_model *model,
                                                       const uint8_t *pixels, int width,
                                                       int height, size_t stride,
                                                       float *tensor, size_t tensor_len);

/* covidcam_model_preprocess() with a message: on failure `errbuf` (may be
 * NULL; COVIDCAM_ERRBUF_SIZE bytes suffice) names the culprit, "" on success.
 * Same errors and threading. */
COVIDCAM_API covidcam_status covidcam_model_preprocess_errbuf(const covidcam_model *model,
                                                              const uint8_t *pixels, int width,
                                                              int height, size_t stride,
                                                              float *tensor, size_t tensor_len,
                                                              char *errbuf, size_t errbuf_size);

/* ---------------------------------------------------------------- Grad-CAM */

/* How activations A (C x h x w) of the target layer and the gradients
 * g = d logit_c / dA (raw logit, not softmax) become a map, as in
 * pytorch-grad-cam (docs/gradcam.md has each definition, its cost and when to
 * use it):
 *   GRADCAM       alpha_k = mean_ij g_k;  cam = relu(sum_k alpha_k A_k)
 *   GRADCAMPP     Grad-CAM++ weights (second/third powers of g)
 *   LAYERCAM      cam = relu(sum_k relu(g_k) * A_k), elementwise
 *   HIRESCAM      cam = relu(sum_k g_k * A_k), elementwise (since 0.4)
 *   XGRADCAM      alpha_k = sum_ij g_k A_k / (sum_ij A_k + 1e-7) (since 0.4)
 *   EIGENCAM      first principal component of A; no gradient, the same map
 *                 for every class (since 0.4)
 *   EIGENGRADCAM  first principal component of g * A (since 0.4)
 *   SCORECAM      alpha = softmax_k of the class logit on the input masked by
 *                 each upsampled, min-max scaled A_k: one forward pass per
 *                 channel, no gradient (since 0.4) */
typedef enum covidcam_cam_method {
    COVIDCAM_CAM_GRADCAM = 0,
    COVIDCAM_CAM_GRADCAMPP = 1,
    COVIDCAM_CAM_LAYERCAM = 2,
    COVIDCAM_CAM_HIRESCAM = 3,
    COVIDCAM_CAM_XGRADCAM = 4,
    COVIDCAM_CAM_EIGENCAM = 5,
    COVIDCAM_CAM_EIGENGRADCAM = 6,
    COVIDCAM_CAM_SCORECAM = 7
} covidcam_cam_method;

/* Test-time augmentation (pytorch-grad-cam's aug_smooth): the map is the mean
 * of the maps of several views of the input tensor, each mapped back.
 *   AUG_NONE       one view (default)
 *   AUG_INTENSITY  the normalised input times 0.9, 1 and 1.1 (3 views)
 *   AUG_FLIP       those three and their left-right mirrors (6 views), exactly
 *                  pytorch-grad-cam's default set. A mirrored chest film puts
 *                  the heart on the right, which a chest X-ray model has not
 *                  seen unless it was trained with flips, so AUG_INTENSITY is
 *                  the one to use for radiographs (docs/gradcam.md).
 * The class explained is the same in every view (target_class, or the top
 * class of the unaugmented input). Since 0.4. */
typedef enum covidcam_aug_smooth {
    COVIDCAM_AUG_NONE = 0,
    COVIDCAM_AUG_INTENSITY = 1,
    COVIDCAM_AUG_FLIP = 2
} covidcam_aug_smooth;

typedef struct covidcam_gradcam_options {
    size_t struct_size;         /* sizeof the caller's struct; set by _init (see
                                   covidcam_session_options for the rules) */
    covidcam_cam_method method; /* default COVIDCAM_CAM_GRADCAM */
    const char *layer;          /* torchvision name: "layer4" (default when NULL or ""),
                                   "layer4.1", "layer3", "layer2.0"...; "layerN" is the
                                   last block of stage N. Several names separated by
                                   commas ("layer3,layer4", at most
                                   COVIDCAM_MAX_CAM_LAYERS, since 0.4) give the mean of
                                   their maps, as pytorch-grad-cam does with several
                                   target layers. Only read during the call. */
    int target_class;           /* class to explain; -1 (default) = the top class */
    int reserved0;              /* 0.3's tail padding: never a field (abi/README.md); 0 */
    int eigen_smooth;           /* since 0.4: non-zero replaces the weighted sum of the
                                   method by the first principal component of the
                                   weighted activations (pytorch-grad-cam's
                                   eigen_smooth); default 0. EIGENCAM and EIGENGRADCAM
                                   are projections already and ignore it. */
    covidcam_aug_smooth aug_smooth; /* since 0.4; default COVIDCAM_AUG_NONE */
} covidcam_gradcam_options;

/* The most target layers one call accepts. */
#define COVIDCAM_MAX_CAM_LAYERS 8

/* The name of a method, as the command-line tools and the server spell it:
 * "gradcam", "gradcam++", "layercam", "hirescam", "xgradcam", "eigencam",
 * "eigengradcam", "scorecam"; NULL for a value outside the enum. Static
 * storage; thread-safe. Since 0.4. */
COVIDCAM_API const char *covidcam_cam_method_name(covidcam_cam_method method);

/* The method called `name` (the names above; "gradcampp" is accepted for
 * "gradcam++"; case-sensitive) into *method. INVALID_ARGUMENT for NULL or an
 * unknown name (*method untouched). Thread-safe. Since 0.4. */
COVIDCAM_API covidcam_status covidcam_cam_method_parse(const char *name,
                                                       covidcam_cam_method *method);

/* The exported entry point for programs built against 0.1 headers: fills
 * exactly the 0.1 struct and sets struct_size to its size. New code gets the
 * inline below through the macro. NULL is a no-op. */
COVIDCAM_API void covidcam_gradcam_options_init(covidcam_gradcam_options *options);

/* Fill `options` with the defaults, struct_size = sizeof(*options) as this
 * header defines it. NULL is a no-op. */
static inline void covidcam_gradcam_options_init_inline(covidcam_gradcam_options *options)
{
    unsigned char *p = (unsigned char *)options;
    size_t i;
    if (!options)
        return;
    for (i = 0; i < sizeof *options; i++)
        p[i] = 0;
    options->struct_size = sizeof *options;
    options->method = COVIDCAM_CAM_GRADCAM;
    options->layer = NULL;
    options->target_class = -1;
    options->eigen_smooth = 0;
    options->aug_smooth = COVIDCAM_AUG_NONE;
}
#define covidcam_gradcam_options_init(options) covidcam_gradcam_options_init_inline(options)

/* Classify one image and compute its class activation map. `options` may be
 * NULL for the defaults. The memory the backward pass needs is counted with
 * the session's against COVIDCAM_MAX_SESSION_BYTES before it is allocated
 * (LIMIT); its gradient buffers are released when the call returns. On success *out receives a new heatmap (free it with
 * covidcam_heatmap_free) that also carries the probabilities and logits.
 * The last residual block uses a closed form (the gradient through global
 * average pooling and fc is constant over space); earlier blocks run oneDNN
 * backward-data primitives through the network tail.
 * Errors: as the classify functions, plus INVALID_ARGUMENT for an unknown layer
 * (the message lists the valid names), a class index out of range or an
 * unknown method. Call from the thread that owns the session. */
COVIDCAM_API covidcam_status covidcam_gradcam_file(covidcam_session *session, const char *path,
                                                   const covidcam_gradcam_options *options,
                                                   covidcam_heatmap **out);
COVIDCAM_API covidcam_status covidcam_gradcam_png(covidcam_session *session, const void *png,
                                                  size_t len,
                                                  const covidcam_gradcam_options *options,
                                                  covidcam_heatmap **out);
COVIDCAM_API covidcam_status covidcam_gradcam_pixels(covidcam_session *session,
                                                     const uint8_t *pixels, int width, int height,
                                                     size_t stride,
                                                     const covidcam_gradcam_options *options,
                                                     covidcam_heatmap **out);
COVIDCAM_API covidcam_status covidcam_gradcam_tensor(covidcam_session *session,
                                                     const float *tensor, int channels,
                                                     int height, int width,
                                                     const covidcam_gradcam_options *options,
                                                     covidcam_heatmap **out);

/* Free a heatmap. NULL is a no-op. */
COVIDCAM_API void covidcam_heatmap_free(covidcam_heatmap *heatmap);

/* The raw map relu(cam) at the target layer's resolution, not normalised:
 * raw_height rows of raw_width floats, owned by the heatmap. */
COVIDCAM_API int covidcam_heatmap_raw_width(const covidcam_heatmap *heatmap);
COVIDCAM_API int covidcam_heatmap_raw_height(const covidcam_heatmap *heatmap);
COVIDCAM_API const float *covidcam_heatmap_raw(const covidcam_heatmap *heatmap);

/* The map normalised to [0, 1] and resized to the model input (size x size),
 * exactly as pytorch-grad-cam returns it. Owned by the heatmap. */
COVIDCAM_API int covidcam_heatmap_size(const covidcam_heatmap *heatmap);
COVIDCAM_API const float *covidcam_heatmap_data(const covidcam_heatmap *heatmap);

/* The class explained, its probability, the target layer's block name
 * ("layer4.2" for "layer4" on a ResNet-50) and the method. */
COVIDCAM_API int covidcam_heatmap_class(const covidcam_heatmap *heatmap);
COVIDCAM_API float covidcam_heatmap_probability(const covidcam_heatmap *heatmap);
COVIDCAM_API const char *covidcam_heatmap_layer(const covidcam_heatmap *heatmap);
COVIDCAM_API covidcam_cam_method covidcam_heatmap_method(const covidcam_heatmap *heatmap);

/* Whether eigen_smooth was applied (0 or 1; 0 for EIGENCAM and EIGENGRADCAM,
 * which ignore it), and the aug_smooth used. Since 0.4. */
COVIDCAM_API int covidcam_heatmap_eigen_smooth(const covidcam_heatmap *heatmap);
COVIDCAM_API covidcam_aug_smooth covidcam_heatmap_aug_smooth(const covidcam_heatmap *heatmap);

/* The classification that came with the map: num_classes probabilities and
 * logits, and the top class. Owned by the heatmap. */
COVIDCAM_API int covidcam_heatmap_num_classes(const covidcam_heatmap *heatmap);
COVIDCAM_API const float *covidcam_heatmap_probabilities(const covidcam_heatmap *heatmap);
COVIDCAM_API const float *covidcam_heatmap_logits(const covidcam_heatmap *heatmap);
COVIDCAM_API int covidcam_heatmap_top_class(const covidcam_heatmap *heatmap);

/* Size of the original image the map was computed from (the heatmap keeps a
 * gray copy for overlays); 0 x 0 for tensor input. */
COVIDCAM_API int covidcam_heatmap_image_width(const covidcam_heatmap *heatmap);
COVIDCAM_API int covidcam_heatmap_image_height(const covidcam_heatmap *heatmap);

/* The normalised map bilinearly resized to width x height, into the caller's
 * `out` (width * height floats). INVALID_ARGUMENT on NULL or bad sizes. */
COVIDCAM_API covidcam_status covidcam_heatmap_resize(const covidcam_heatmap *heatmap, int width,
                                                     int height, float *out);

/* The map at width x height through OpenCV's COLORMAP_JET, as RGB bytes into
 * the caller's `rgb` (3 * width * height). */
COVIDCAM_API covidcam_status covidcam_heatmap_colormap(const covidcam_heatmap *heatmap, int width,
                                                       int height, uint8_t *rgb);

/* pytorch-grad-cam's show_cam_on_image(img, map, use_rgb=True, image_weight):
 * the jet map (resized to the image) blended with the gray image given as
 * `height` rows of `width` bytes `stride` apart, image_weight in [0, 1] (0.5 in
 * pytorch-grad-cam), into the caller's `rgb` (3 * width * height). */
COVIDCAM_API covidcam_status covidcam_heatmap_overlay(const covidcam_heatmap *heatmap,
                                                      const uint8_t *gray, int width, int height,
                                                      size_t stride, float image_weight,
                                                      uint8_t *rgb);

/* covidcam_heatmap_resize(), covidcam_heatmap_colormap() and
 * covidcam_heatmap_overlay() with a message: on failure `errbuf` (may be NULL;
 * COVIDCAM_ERRBUF_SIZE bytes suffice) names the culprit (which pointer is NULL,
 * which size or stride or weight is out of range, the allocation that failed),
 * "" on success. Same outputs, errors (INVALID_ARGUMENT, OUT_OF_MEMORY) and
 * threading: several threads may render one heatmap at once (it is only read).
 * The caller owns every buffer. Since 0.3. */
COVIDCAM_API covidcam_status covidcam_heatmap_resize_errbuf(const covidcam_heatmap *heatmap,
                                                            int width, int height, float *out,
                                                            char *errbuf, size_t errbuf_size);
COVIDCAM_API covidcam_status covidcam_heatmap_colormap_errbuf(const covidcam_heatmap *heatmap,
                                                              int width, int height, uint8_t *rgb,
                                                              char *errbuf, size_t errbuf_size);
COVIDCAM_API covidcam_status covidcam_heatmap_overlay_errbuf(const covidcam_heatmap *heatmap,
                                                             const uint8_t *gray, int width,
                                                             int height, size_t stride,
                                                             float image_weight, uint8_t *rgb,
                                                             char *errbuf, size_t errbuf_size);

/* Write the overlay on the heatmap's own copy of the original image, at the
 * original size, as an RGB PNG at `path`. INVALID_ARGUMENT if the heatmap came
 * from a tensor (no image; use covidcam_heatmap_overlay), IO on write errors. */
COVIDCAM_API covidcam_status covidcam_heatmap_write_overlay(const covidcam_heatmap *heatmap,
                                                            const char *path, float image_weight,
                                                            char *errbuf, size_t errbuf_size);

/* Write the jet colormap alone as an RGB PNG at `path`, at the original image
 * size (the model input size for tensor input). */
COVIDCAM_API covidcam_status covidcam_heatmap_write_colormap(const covidcam_heatmap *heatmap,
                                                             const char *path, char *errbuf,
                                                             size_t errbuf_size);

/* ---------------------------------------------------------------- legends (since 0.4) */

/* The label of a heatmap, "<class> <probability>% | <method> <layer>" with
 * " eigen" and " aug" or " aug+flip" appended when used, e.g.
 * "COVID 97.1% | gradcam++ layer4.1", into buf (NUL-terminated, cut to fit
 * `size`). `model` supplies the class name and must be the heatmap's model:
 * INVALID_ARGUMENT for NULLs, size 0 or a model with another number of
 * classes. Thread-safe (reads only). */
COVIDCAM_API covidcam_status covidcam_heatmap_label(const covidcam_heatmap *heatmap,
                                                    const covidcam_model *model, char *buf,
                                                    size_t size);

/* Draw a legend onto an RGB image the caller owns (3 * width * height bytes,
 * rows packed, e.g. from covidcam_heatmap_overlay): a darkened band along the
 * top with `text` in a built-in 6 x 13 bitmap font (printable ASCII; other
 * bytes are drawn as '?'; wrapped at spaces onto up to three lines, the last
 * cut at the right edge), and a band along the bottom
 * with the jet colour bar of the map from 0 (left) to 1 (right). Glyphs and
 * bar scale by an integer factor, min(width, height) / 320 (at least 1).
 * INVALID_ARGUMENT (message in errbuf, may be NULL) for NULL rgb or text, or
 * a size outside (0, COVIDCAM_MAX_IMAGE_DIM] / COVIDCAM_MAX_IMAGE_PIXELS.
 * Allocates nothing; thread-safe on distinct buffers. */
COVIDCAM_API covidcam_status covidcam_draw_legend(uint8_t *rgb, int width, int height,
                                                  const char *text, char *errbuf,
                                                  size_t errbuf_size);

/* covidcam_heatmap_write_overlay() with covidcam_draw_legend(`label`) on the
 * image; pass covidcam_heatmap_label()'s text for the standard label. Same
 * errors, plus INVALID_ARGUMENT for a NULL label. */
COVIDCAM_API covidcam_status covidcam_heatmap_write_labelled_overlay(
    const covidcam_heatmap *heatmap, const char *path, float image_weight, const char *label,
    char *errbuf, size_t errbuf_size);

/* ---------------------------------------------------------------- image formats */

/* Every function that takes an image file or image bytes (covidcam_classify_file,
 * covidcam_classify_image, covidcam_gradcam_file, covidcam_gradcam_image,
 * covidcam_image_probe) recognises the format from the first bytes, whatever
 * the file name: PNG (signature), JPEG (SOI marker) and DICOM ("DICM" at offset
 * 128, or a file without preamble that starts with a group 0002 or 0008
 * element). Anything else is refused before the rest of the file is read:
 * UNSUPPORTED naming what it looks like (GIF, BMP, TIFF, WebP, PDF, JPEG 2000,
 * safetensors, ZIP...), or BAD_FORMAT when it looks like nothing known.
 * Decoding rules: docs/preprocessing.md. The _png functions accept PNG only. */

typedef enum covidcam_image_format {
    COVIDCAM_FORMAT_NONE = 0,   /* no input decoded */
    COVIDCAM_FORMAT_PNG = 1,
    COVIDCAM_FORMAT_JPEG = 2,
    COVIDCAM_FORMAT_DICOM = 3,
    COVIDCAM_FORMAT_PIXELS = 4, /* covidcam_*_pixels */
    COVIDCAM_FORMAT_TENSOR = 5  /* covidcam_*_tensor */
} covidcam_image_format;

/* Where the gray window of a DICOM came from (covidcam_image_info.window_source). */
typedef enum covidcam_window_source {
    COVIDCAM_WINDOW_NONE = 0,    /* not DICOM */
    COVIDCAM_WINDOW_FILE = 1,    /* the first WindowCenter/WindowWidth of the file */
    COVIDCAM_WINDOW_VOI_LUT = 2, /* the file's VOI LUT sequence */
    COVIDCAM_WINDOW_RANGE = 3    /* none in the file: the full range of the stored bits */
} covidcam_window_source;

/* What an input image was, so that a user can check what the model saw.
 * Strings are NUL-terminated printable ASCII, "" when unknown or absent.
 * The struct may grow at its end in later versions: set struct_size (with
 * covidcam_image_info_init); the library writes only the fields that fit in
 * struct_size bytes. */
typedef struct covidcam_image_info {
    size_t struct_size;           /* sizeof(covidcam_image_info); set by _init */
    covidcam_image_format format;
    int width, height;            /* of the decoded gray image (after EXIF orientation) */
    int bits;                     /* bits stored per sample (PNG bit depth, 8 for JPEG,
                                     DICOM BitsStored; 8 for pixels, 32 for tensors) */
    int channels;                 /* samples per pixel in the file (tensor: channels) */
    char photometric[20];         /* "GRAY", "GRAY_ALPHA", "RGB", "RGBA", "PALETTE"
                                     (PNG); "GRAY", "YCbCr", "RGB", "CMYK", "YCCK"
                                     (JPEG); the DICOM PhotometricInterpretation
                                     ("MONOCHROME1", "MONOCHROME2", "RGB"...) */
    int orientation;              /* JPEG: EXIF orientation applied (1..8; 1 without
                                     EXIF); 0 for the other formats */
    int frames;                   /* DICOM NumberOfFrames (the first is used); 1 otherwise */
    /* DICOM only ("" / 0 for the other formats): */
    char modality[20];            /* (0008,0060) Modality: "CR", "DX", "CT"... */
    char view_position[20];       /* (0018,5101) ViewPosition: "PA", "AP", "LATERAL"... */
    char body_part[20];           /* (0018,0015) BodyPartExamined: "CHEST"... */
    char transfer_syntax[68];     /* (0002,0010) UID, e.g. "1.2.840.10008.1.2.1" */
    covidcam_window_source window_source;
    double window_center;         /* the window used, in modality (rescaled) units */
    double window_width;
} covidcam_image_info;

/* Zero `info` and set its struct_size. NULL is a no-op. */
static inline void covidcam_image_info_init(covidcam_image_info *info)
{
    unsigned char *p = (unsigned char *)info;
    size_t i;
    if (!info)
        return;
    for (i = 0; i < sizeof *info; i++)
        p[i] = 0;
    info->struct_size = sizeof *info;
}

/* Classify / explain an image held in memory (`len` bytes at `image`) in any
 * supported format (PNG, JPEG, DICOM). As covidcam_classify_png() and
 * covidcam_gradcam_png() otherwise; errors also UNSUPPORTED (a format or a
 * DICOM transfer syntax this build cannot decode, named in the message). */
COVIDCAM_API covidcam_status covidcam_classify_image(covidcam_session *session,
                                                     const void *image, size_t len,
                                                     float *probabilities, float *logits,
                                                     size_t capacity, int *top_class);
COVIDCAM_API covidcam_status covidcam_gradcam_image(covidcam_session *session,
                                                    const void *image, size_t len,
                                                    const covidcam_gradcam_options *options,
                                                    covidcam_heatmap **out);

/* What the last input of the session's last successful classify or Grad-CAM
 * call was (any input kind). Writes *info up to info->struct_size.
 * Errors: INVALID_ARGUMENT (NULL session or info, struct_size smaller than
 * the first two fields), and INVALID_ARGUMENT "no decoded input" when no call
 * has succeeded yet or the last one failed. Same thread rules as the session. */
COVIDCAM_API covidcam_status covidcam_session_image_info(const covidcam_session *session,
                                                         covidcam_image_info *info);

/* What the image the heatmap was computed from was. Writes *info up to
 * info->struct_size. INVALID_ARGUMENT on NULL or a too small struct_size.
 * Thread-safe on a heatmap no thread is freeing. */
COVIDCAM_API covidcam_status covidcam_heatmap_image_info(const covidcam_heatmap *heatmap,
                                                         covidcam_image_info *info);

/* Decode `len` bytes at `image` fully (the only way to validate the pixel data
 * of every format; costs one decode, no model needed) and describe it in *info.
 * Errors as covidcam_classify_image(), message in errbuf (may be NULL).
 * Thread-safe: no handle. */
COVIDCAM_API covidcam_status covidcam_image_probe(const void *image, size_t len,
                                                  covidcam_image_info *info, char *errbuf,
                                                  size_t errbuf_size);

/* Same, for a file (read as covidcam_classify_file() reads it). */
COVIDCAM_API covidcam_status covidcam_image_probe_file(const char *path,
                                                       covidcam_image_info *info, char *errbuf,
                                                       size_t errbuf_size);

/* ---------------------------------------------------------------- trust */

/* Every classify and Grad-CAM call also assesses whether its answer can be
 * trusted: checks on the decoded image (warnings) and, when the model file
 * carries out-of-distribution statistics, a score of how far the image's
 * pooled features lie from the training images'. Neither ever changes the
 * probabilities, the class or the map; they say when not to believe them.
 * Rules and measurements: docs/trust.md. */

/* Findings about an input image (bits of covidcam_assessment.warnings),
 * checked on the decoded gray image before it is resized. Tensor input has
 * no image and gets none. */
typedef enum covidcam_warning {
    COVIDCAM_WARN_NEARLY_CONSTANT = 1 << 0,   /* gray standard deviation below 4 (of 255) */
    COVIDCAM_WARN_LOW_DYNAMIC_RANGE = 1 << 1, /* 1st to 99th percentile span below 48, e.g.
                                                 12-bit values stored in a 16-bit PNG */
    COVIDCAM_WARN_LIKELY_INVERTED = 1 << 2,   /* the mediastinum is darker than the lungs:
                                                 inverted polarity, or not a frontal film */
    COVIDCAM_WARN_EXTREME_ASPECT = 1 << 3,    /* longer side over 1.6 x the shorter: the
                                                 resize to a square distorts it */
    COVIDCAM_WARN_LOW_RESOLUTION = 1 << 4,    /* shorter side below the model's input size:
                                                 the image is enlarged, its detail was
                                                 never there (a thumbnail, not a film) */
    COVIDCAM_WARN_LOW_DETAIL = 1 << 5         /* no finer detail at the network's resolution
                                                 than an image enlarged 4x or more has: a
                                                 thumbnail or a crop blown up to film size,
                                                 a drawing (since 0.5) */
} covidcam_warning;

/* The name of one warning bit ("nearly_constant", "low_dynamic_range",
 * "likely_inverted", "extreme_aspect", "low_resolution", "low_detail"): a static string, NULL for 0, several
 * bits or an unknown bit. Names never change once published. */
COVIDCAM_API const char *covidcam_warning_name(unsigned warning);

/* Why one warning bit matters, as one English sentence without a final
 * period, for people reading a report (e.g. "the image is smaller than the
 * model input and is enlarged: a thumbnail, not a film"): a static string,
 * NULL where covidcam_warning_name is NULL. Any thread. The wording may be
 * improved between versions; match on the name, not on this text (since 0.5). */
COVIDCAM_API const char *covidcam_warning_description(unsigned warning);

/* The assessment of one classification. The struct may grow at its end in
 * later versions: set struct_size (covidcam_assessment_init); the library
 * writes only the fields that fit in struct_size bytes. */
typedef struct covidcam_assessment {
    size_t struct_size;   /* sizeof(covidcam_assessment); set by _init */
    unsigned warnings;    /* COVIDCAM_WARN_* bits, 0 when none */
    int ood_available;    /* 1 when the model carries OOD statistics */
    int ood;              /* 1 when ood_score > ood_threshold: the image is unlike the
                             training images; 0 when not, or not available */
    double ood_score;     /* squared Mahalanobis distance of the pooled features to the
                             nearest class mean (shared covariance); 0 when not available */
    double ood_threshold; /* the model's threshold (99th percentile of the score on its
                             validation images); 0 when not available */
} covidcam_assessment;

/* Zero `a` and set its struct_size. NULL is a no-op. */
static inline void covidcam_assessment_init(covidcam_assessment *a)
{
    unsigned char *p = (unsigned char *)a;
    size_t i;
    if (!a)
        return;
    for (i = 0; i < sizeof *a; i++)
        p[i] = 0;
    a->struct_size = sizeof *a;
}

/* The assessment of the session's last successful classify or Grad-CAM call.
 * Writes *out up to out->struct_size. Errors: INVALID_ARGUMENT (NULL session
 * or out, struct_size smaller than the first two fields, or no successful call
 * yet / the last one failed). Same thread rules as the session. */
COVIDCAM_API covidcam_status covidcam_session_assessment(const covidcam_session *session,
                                                         covidcam_assessment *out);

/* The assessment of the classification a heatmap came with. Writes *out up to
 * out->struct_size. INVALID_ARGUMENT on NULL or a too small struct_size.
 * Thread-safe on a heatmap no thread is freeing. */
COVIDCAM_API covidcam_status covidcam_heatmap_assessment(const covidcam_heatmap *heatmap,
                                                         covidcam_assessment *out);

/* The decoded input of image `index` of the session's last batch call, like
 * covidcam_session_image_info for one image. Errors as
 * covidcam_session_batch_assessment. Since 0.5. */
COVIDCAM_API covidcam_status covidcam_session_batch_image_info(const covidcam_session *session,
                                                               int index,
                                                               covidcam_image_info *info);

/* The assessment of image `index` of the session's last batch call
 * (covidcam_classify_*_batch), like covidcam_session_assessment for one image.
 * INVALID_ARGUMENT on NULL, a too small struct_size, an index outside the
 * last batch, or an image of it that failed. Since 0.5. */
COVIDCAM_API covidcam_status covidcam_session_batch_assessment(const covidcam_session *session,
                                                               int index,
                                                               covidcam_assessment *out);

/* 1 when the model file carries OOD statistics, else 0 (also for NULL). */
COVIDCAM_API int covidcam_model_has_ood(const covidcam_model *model);

/* Length of the model's pooled feature vector (the fc layer's input); 0 for
 * NULL. */
COVIDCAM_API int covidcam_model_num_features(const covidcam_model *model);

/* The pooled features (global average of the last block, what the fc layer
 * reads) of the session's last successful classify or Grad-CAM call, into the
 * caller's `features` (capacity floats, at least covidcam_model_num_features).
 * This is what the OOD statistics are fitted on (tools/ood_fit.py).
 * Errors: INVALID_ARGUMENT (NULL, capacity too small, no successful call yet),
 * message in the session. Same thread rules as the session. */
COVIDCAM_API covidcam_status covidcam_session_features(covidcam_session *session,
                                                       float *features, size_t capacity);

/* The network input of the session's last successful classify or Grad-CAM
 * call: the preprocessed, normalised tensor (channels x size x size, planar,
 * what covidcam_classify_tensor takes), into the caller's `tensor` (capacity
 * floats). Lets a program perturb exactly what the network saw (map
 * faithfulness, covidcam-faithfulness). Errors as covidcam_session_features.
 * Since 0.4. */
COVIDCAM_API covidcam_status covidcam_session_input(covidcam_session *session, float *tensor,
                                                    size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* COVIDCAM_H */
