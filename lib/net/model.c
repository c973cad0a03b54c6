/* Model queries and release. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "ood.h"
#include "prepared.h"
#include "qscales.h"
#include "preprocess.h"

static void free_conv(cc_conv_w *c)
{
    cc_dnn_md_free(c->w_md);
    cc_dnn_free(c->w);
    cc_dnn_free(c->b);
}

void covidcam_model_free(covidcam_model *m)
{
    if (!m)
        return;
    free_conv(&m->stem);
    for (int i = 0; m->blocks && i < m->num_blocks; i++) {
        for (int c = 0; c < 3; c++)
            free_conv(&m->blocks[i].conv[c]);
        free_conv(&m->blocks[i].down);
    }
    free(m->blocks);
    free_conv(&m->fc);
    free(m->fc_plain);
    cc_ood_free(m->ood);
    for (int i = 0; m->classes && i < m->num_classes; i++)
        free(m->classes[i]);
    free(m->classes);
    for (size_t i = 0; i < m->num_meta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].value);
    }
    free(m->meta);
    for (int i = 0; i < m->num_layers; i++)
        free(m->layer_names[i]);
    free(m->layer_names);
    cc_prep_cache_free(m->prep);
    cc_qscales_free(m->qs);
    cc_dnn_engine_free(m->eng);
    free(m);
}

int covidcam_model_num_classes(const covidcam_model *m)
{
    return m ? m->num_classes : 0;
}

const char *covidcam_model_class_name(const covidcam_model *m, int index)
{
    if (!m || index < 0 || index >= m->num_classes)
        return NULL;
    return m->classes[index];
}

int covidcam_model_class_index(const covidcam_model *m, const char *name)
{
    if (!m || !name)
        return -1;
    for (int i = 0; i < m->num_classes; i++)
        if (strcmp(m->classes[i], name) == 0)
            return i;
    return -1;
}

float covidcam_model_temperature(const covidcam_model *m)
{
    return m ? m->temperature : 0.f;
}

int covidcam_model_has_ood(const covidcam_model *m)
{
    return m && m->ood;
}

int covidcam_model_num_features(const covidcam_model *m)
{
    return m ? m->fc.ic : 0;
}

int covidcam_model_input_size(const covidcam_model *m)
{
    return m ? m->input_size : 0;
}

int covidcam_model_input_channels(const covidcam_model *m)
{
    return m ? m->in_ch : 0;
}

const char *covidcam_model_arch(const covidcam_model *m)
{
    return m ? m->arch.name : NULL;
}

const char *covidcam_model_metadata(const covidcam_model *m, const char *key)
{
    if (!m || !key)
        return NULL;
    for (size_t i = 0; i < m->num_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

int covidcam_model_num_layers(const covidcam_model *m)
{
    return m ? m->num_layers : 0;
}

const char *covidcam_model_layer_name(const covidcam_model *m, int index)
{
    if (!m || index < 0 || index >= m->num_layers)
        return NULL;
    return m->layer_names[index];
}

int cc_model_find_layer(const covidcam_model *m, const char *name)
{
    if (!name || !*name)
        return m->num_blocks - 1;
    for (int i = 0; i < m->num_blocks; i++)
        if (strcmp(m->blocks[i].name, name) == 0)
            return i;
    /* "layerN" names the last block of stage N, as hooking model.layerN does */
    int last = -1;
    for (int i = 0; i < m->num_blocks; i++) {
        char stage[24];
        snprintf(stage, sizeof stage, "layer%d", m->blocks[i].stage + 1);
        if (strcmp(stage, name) == 0)
            last = i;
    }
    return last;
}

static covidcam_status preprocess(const covidcam_model *m, const uint8_t *pixels, int width,
                                  int height, size_t stride, float *tensor, size_t tensor_len,
                                  cc_err *e)
{
    if (!m || !pixels || !tensor)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "%s must not be NULL",
                       !m ? "model" : !pixels ? "pixels" : "tensor");
    if (width <= 0 || height <= 0 || stride < (size_t)width)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "bad image geometry %dx%d with stride %zu (need width, height > 0 and "
                       "stride >= width)",
                       width, height, stride);
    if ((unsigned)width > COVIDCAM_MAX_IMAGE_DIM || (unsigned)height > COVIDCAM_MAX_IMAGE_DIM ||
        (uint64_t)width * (uint64_t)height > COVIDCAM_MAX_IMAGE_PIXELS)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "image %dx%d exceeds the limits (%u per side, %u pixels)", width, height,
                       COVIDCAM_MAX_IMAGE_DIM, COVIDCAM_MAX_IMAGE_PIXELS);
    if (!cc_pixels_fit(width, height, stride))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "stride %zu is too large: %d rows of it overflow the address space", stride,
                       height);
    size_t plane = (size_t)m->input_size * (size_t)m->input_size;
    if (tensor_len < plane * (size_t)m->in_ch)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "tensor_len %zu is too small: the model input is %d x %d x %d = %zu floats",
                       tensor_len, m->in_ch, m->input_size, m->input_size,
                       plane * (size_t)m->in_ch);
    float *tmp = malloc(plane * sizeof *tmp);
    if (!tmp)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the resize buffer");
    cc_preprocess_gray_mode(pixels, width, height, stride, m->input_size, m->resize, m->in_ch,
                            m->mean, m->std, tmp, tensor);
    free(tmp);
    return cc_check_input(m, tensor, NULL);
}

covidcam_status covidcam_model_preprocess(const covidcam_model *m, const uint8_t *pixels,
                                          int width, int height, size_t stride, float *tensor,
                                          size_t tensor_len)
{
    return preprocess(m, pixels, width, height, stride, tensor, tensor_len, NULL);
}

covidcam_status covidcam_model_preprocess_errbuf(const covidcam_model *m, const uint8_t *pixels,
                                                 int width, int height, size_t stride,
                                                 float *tensor, size_t tensor_len, char *errbuf,
                                                 size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = preprocess(m, pixels, width, height, stride, tensor, tensor_len, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}
